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
        // Inside a heading: its level, start (bytes) and text so far.
        let mut open: Option<(HeadingLevel, usize, String)> = None;
        for (event, range) in Parser::new_ext(text, Options::empty()).into_offset_iter() {
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
                        let offset = text[..start].chars().count();
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
    fn setext_headings_and_offsets_in_characters() {
        let text = "Überblick\n=========\n\nÄpfel\n\nDetails\n-------\n\nmehr";
        let outline = Outline::of(text);
        let offset = |needle: &str| text[..text.find(needle).unwrap()].chars().count();
        assert_eq!(outline.path_at(offset("Äpfel")), ["Überblick"]);
        assert_eq!(outline.path_at(offset("mehr")), ["Überblick", "Details"]);
    }
}
