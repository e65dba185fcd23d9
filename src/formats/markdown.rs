//! Markdown's heading structure, so that each chunk can say which section it is in.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// The headings of a Markdown text in order, each with the path of headings it opens
/// (outermost first, itself last).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outline {
    /// (character offset of the heading, path from there on), by offset.
    sections: Vec<(usize, Vec<String>)>,
}

impl Outline {
    pub fn of(text: &str) -> Outline {
        let mut sections = Vec::new();
        let mut path: Vec<(HeadingLevel, String)> = Vec::new();
        // Characters before byte `counted.0`, counted once, forward only (events come in order).
        let mut counted = (0usize, 0usize);
        // Inside a heading: its level, start (bytes) and text so far.
        let mut open: Option<(HeadingLevel, usize, String)> = None;
        // The options text-splitter's Markdown splitter parses with, so that both see the same
        // headings (front matter is not a heading, `{#id}` is not heading text).
        for (event, range) in Parser::new_ext(text, Options::all()).into_offset_iter() {
            match event {
                Event::Start(Tag::Heading { level, .. }) => {
                    open = Some((level, range.start, String::new()));
                }
                Event::Text(piece) | Event::Code(piece) => {
                    if let Some((_, _, heading)) = &mut open {
                        heading.push_str(&piece);
                    }
                }
                Event::SoftBreak | Event::HardBreak => {
                    if let Some((_, _, heading)) = &mut open {
                        heading.push(' ');
                    }
                }
                Event::End(TagEnd::Heading(_)) => {
                    if let Some((level, start, heading)) = open.take() {
                        while path.last().is_some_and(|(outer, _)| *outer >= level) {
                            path.pop();
                        }
                        path.push((level, heading.trim().to_owned()));
                        counted = (start, counted.1 + text[counted.0..start].chars().count());
                        let offset = counted.1;
                        sections.push((offset, path.iter().map(|(_, h)| h.clone()).collect()));
                    }
                }
                _ => {}
            }
        }
        Outline { sections }
    }

    /// The heading path in effect at character `offset`: that of the last heading that starts
    /// at or before it.
    pub fn path_at(&self, offset: usize) -> &[String] {
        let after = self.sections.partition_point(|(start, _)| *start <= offset);
        match after.checked_sub(1) {
            Some(i) => &self.sections[i].1,
            None => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_sit_under_the_headings_before_them() {
        let text = "intro\n\n# Guide\n\ntext\n\n## Install `it`\n\nsteps\n\n### Linux\n\napt\n\n## Use\n\nrun\n\n# Next\n";
        let outline = Outline::of(text);
        let at = |needle: &str| outline.path_at(text[..text.find(needle).unwrap()].chars().count());
        assert!(at("intro").is_empty());
        assert_eq!(at("text"), ["Guide"]);
        assert_eq!(at("steps"), ["Guide", "Install it"]);
        assert_eq!(at("apt"), ["Guide", "Install it", "Linux"]);
        assert_eq!(at("run"), ["Guide", "Use"]);
        assert_eq!(at("# Next"), ["Next"]);
    }

    #[test]
    fn front_matter_and_heading_attributes_are_not_heading_text() {
        let text = "---\ntitle: x\n---\n\n# Start {#start}\n\nbody";
        let outline = Outline::of(text);
        let at = text[..text.find("body").unwrap()].chars().count();
        assert_eq!(outline.path_at(at), ["Start"]);
    }

    #[test]
    fn many_headings_are_counted_in_linear_time() {
        let text = "#\n".repeat(200_000);
        let outline = Outline::of(&text);
        assert_eq!(outline.path_at(text.chars().count()).len(), 1);
    }

    #[test]
    fn setext_headings_and_offsets_in_characters() {
        let text = "Überblick\n=========\n\nÄpfel\n\nDetails\n-------\n\nmehr";
        let outline = Outline::of(text);
        let offset = |needle: &str| text[..text.find(needle).unwrap()].chars().count();
        assert_eq!(outline.path_at(offset("Äpfel")), ["Überblick"]);
        assert_eq!(outline.path_at(offset("mehr")), ["Überblick", "Details"]);
    }
}
