//! A web page's readable text: converted to Markdown by `htmd` (html5ever's parser, so real-world
//! markup is read as browsers read it), keeping headings, lists, tables and code, and leaving
//! out what is not the page's content: scripts, styles, forms, embedded media, navigation and
//! sidebars, and the site's header and footer (those inside `<article>` or `<main>` stay). Links
//! keep their text, not their address.

use std::rc::Rc;
use std::sync::LazyLock;

use htmd::element_handler::Handlers;
use htmd::{Element, HtmlToMarkdown, Node};
use markup5ever_rcdom::NodeData;

use super::{Extracted, FormatError, Layout};

static CONVERTER: LazyLock<HtmlToMarkdown> = LazyLock::new(|| {
    HtmlToMarkdown::builder()
        .skip_tags(vec![
            "head", "script", "style", "noscript", "template", "nav", "aside", "form", "button",
            "select", "iframe", "object", "embed", "svg", "canvas", "video", "audio", "img",
            "picture",
        ])
        .add_handler(
            vec!["header", "footer"],
            |handlers: &dyn Handlers, element: Element| {
                if within_content(element.node) {
                    Some(handlers.walk_children(element.node))
                } else {
                    None
                }
            },
        )
        .add_handler(vec!["a"], |handlers: &dyn Handlers, element: Element| {
            Some(handlers.walk_children(element.node))
        })
        .build()
});

/// Nesting beyond this is refused (real pages stay far below it).
const MAX_DEPTH: usize = 256;

/// Elements that never hold children.
const VOID: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img", "input",
    "keygen", "link", "meta", "param", "source", "track", "wbr",
];

/// Elements whose end tag may be left out: a new one closes the open one of its kind (the
/// kinds are listed together) through the elements opened after it that `through` admits, as
/// the HTML parser does (a sloppy table cell closes whatever it holds; a list item only
/// phrasing and plain blocks). Elements that nest where the parser lets them (`optgroup`, `rt`
/// outside `ruby`) are left out: counting them deeper is the safe side.
const SIBLINGS: &[(&[&str], Through)] = &[
    (&["p"], phrasing),
    (&["option"], phrasing),
    (&["li"], phrasing_or_block),
    (&["dd", "dt"], phrasing_or_block),
    (&["td", "th"], not_a_table),
    (&["tr"], not_a_table),
    (&["thead", "tbody", "tfoot"], not_a_table),
    (&["colgroup"], not_a_table),
    (&["caption"], not_a_table),
];

/// Which open elements an implied end tag closes along with its element.
type Through = fn(&str) -> bool;

/// Phrasing elements, which an implied end tag closes along with its element.
const PHRASING: &[&str] = &[
    "a", "abbr", "b", "big", "cite", "code", "em", "font", "i", "kbd", "mark", "q", "s", "samp",
    "small", "span", "strike", "strong", "sub", "sup", "tt", "u", "var",
];

fn phrasing(element: &str) -> bool {
    PHRASING.contains(&element)
}

fn phrasing_or_block(element: &str) -> bool {
    phrasing(element) || matches!(element, "div" | "address" | "p")
}

fn not_a_table(element: &str) -> bool {
    element != "table"
}

/// Elements whose content is text, not tags (skipped to their end tag).
const RAW_TEXT: &[&str] = &["script", "style", "textarea", "title", "xmp", "noscript"];

/// An estimate of the deepest nesting from the tags alone, linear in the length: a stack of
/// open elements where an end tag closes down to its element (and is ignored when none is
/// open), a sibling's start tag closes the open one of its kind, void elements and the
/// content of raw-text elements count for nothing. The tree is checked exactly after parsing.
fn lexical_depth(html: &str) -> usize {
    let bytes = html.as_bytes();
    let mut open: Vec<String> = Vec::new();
    let (mut deepest, mut at) = (0usize, 0usize);
    while let Some(offset) = bytes[at..].iter().position(|&b| b == b'<') {
        at += offset + 1;
        if html[at..].starts_with("!--") {
            at = html[at..]
                .find("-->")
                .map_or(bytes.len(), |end| at + end + 3);
            continue;
        }
        let closing = bytes.get(at) == Some(&b'/');
        let name_start = at + usize::from(closing);
        let name_end = name_start
            + bytes[name_start..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
                .count();
        if name_end == name_start {
            continue;
        }
        let name = html[name_start..name_end].to_ascii_lowercase();
        let tag_end = html[name_end..]
            .find('>')
            .map_or(bytes.len(), |end| name_end + end);
        at = tag_end;
        if VOID.contains(&name.as_str()) {
            continue;
        }
        if closing {
            if let Some(position) = open.iter().rposition(|element| *element == name) {
                open.truncate(position);
            }
            continue;
        }
        if html[name_end..tag_end].ends_with('/') {
            continue;
        }
        if let Some((kind, through)) = SIBLINGS
            .iter()
            .find(|(kind, _)| kind.contains(&name.as_str()))
        {
            let sibling = open
                .iter()
                .rposition(|element| kind.contains(&element.as_str()));
            if let Some(position) = sibling
                && open[position + 1..].iter().all(|element| through(element))
            {
                open.truncate(position);
            }
        }
        let raw = RAW_TEXT.contains(&name.as_str());
        open.push(name);
        deepest = deepest.max(open.len());
        if raw {
            at = close_tag(
                bytes,
                tag_end,
                open.last().map_or(&[][..], |n| n.as_bytes()),
            );
        }
    }
    deepest
}

/// Where `</name` (any case) next starts at or after `from`; the end when it does not.
fn close_tag(bytes: &[u8], from: usize, name: &[u8]) -> usize {
    let mut at = from;
    while let Some(offset) = bytes[at..].windows(2).position(|pair| pair == b"</") {
        let start = at + offset;
        let candidate = &bytes[start + 2..];
        if candidate.len() >= name.len() && candidate[..name.len()].eq_ignore_ascii_case(name) {
            return start;
        }
        at = start + 2;
    }
    bytes.len()
}

pub fn extract(html: &str) -> Result<Extracted, FormatError> {
    let too_deep = || FormatError::Unreadable {
        format: "HTML",
        reason: format!("elements are nested more than {MAX_DEPTH} deep"),
    };
    // The parser's cost grows with nesting depth times length: absurd nesting is refused
    // before parsing, from a lexical count.
    if lexical_depth(html) > MAX_DEPTH {
        return Err(too_deep());
    }
    let unreadable = |err: std::io::Error| FormatError::Unreadable {
        format: "HTML",
        reason: err.to_string(),
    };
    let tree = CONVERTER.html_to_tree(html).map_err(unreadable)?;
    // The conversion walks the tree recursively: a page nested deeper than any real one would
    // overflow the stack (an abort, not a panic), so it is refused first.
    if deeper_than(&tree, MAX_DEPTH) {
        return Err(too_deep());
    }
    let title = find(&tree, "title")
        .map(|node| {
            text_of(&node)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|title| !title.is_empty());
    let text = CONVERTER.tree_to_markdown(&tree);
    Ok(Extracted {
        text,
        layout: Layout {
            markdown: true,
            page_starts: Vec::new(),
        },
        title,
    })
}

/// Whether any node lies more than `limit` levels below `root` (walked without recursion).
fn deeper_than(root: &Rc<Node>, limit: usize) -> bool {
    let mut pending = vec![(Rc::clone(root), 0)];
    while let Some((node, depth)) = pending.pop() {
        if depth > limit {
            return true;
        }
        for child in node.children.borrow().iter() {
            pending.push((Rc::clone(child), depth + 1));
        }
    }
    false
}

fn tag_of(node: &Node) -> Option<&str> {
    match &node.data {
        NodeData::Element { name, .. } => Some(&name.local),
        _ => None,
    }
}

/// The first element named `tag`, depth first.
fn find(node: &Rc<Node>, tag: &str) -> Option<Rc<Node>> {
    if tag_of(node) == Some(tag) {
        return Some(Rc::clone(node));
    }
    node.children
        .borrow()
        .iter()
        .find_map(|child| find(child, tag))
}

fn text_of(node: &Node) -> String {
    match &node.data {
        NodeData::Text { contents } => contents.borrow().to_string(),
        _ => node.children.borrow().iter().map(|c| text_of(c)).collect(),
    }
}

/// Whether `node` sits inside the page's content (`<article>` or `<main>`).
fn within_content(node: &Node) -> bool {
    let mut parent = parent_of(node);
    while let Some(node) = parent {
        if matches!(tag_of(&node), Some("article" | "main")) {
            return true;
        }
        parent = parent_of(&node);
    }
    false
}

fn parent_of(node: &Node) -> Option<Rc<Node>> {
    let weak = node.parent.take()?;
    let parent = weak.upgrade();
    node.parent.set(Some(weak));
    parent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_nesting_is_refused_before_parsing() {
        let page = "<div>".repeat(100_000);
        let err = extract(&page).expect_err("refused");
        assert!(err.to_string().contains("nested more than"), "{err}");
    }

    #[test]
    fn the_lexical_depth_follows_what_nests() {
        let page = "<html><body><!-- <div><div> --><ul><li>a<li>b</ul><p>x<p>y<br>\
            <script>if (a<b && c<d) {}</script><div><span>z</span></div></body></html>";
        // The parser's tree is 4 deep (html, body, div, span): the `<div>` closes the open `<p>`,
        // which the estimate does not do, so it counts one more.
        assert_eq!(lexical_depth(page), 5);
        // Long, flat or legacy-but-ordinary pages are not deep.
        let list = "<ul>".to_owned() + &"<li>item".repeat(10_000) + "</ul>";
        assert!(extract(&list).is_ok(), "a long list is not deep");
        let legacy = "<table><tr>".to_owned() + &"<td><font>x".repeat(1_000) + "</table>";
        assert!(lexical_depth(&legacy) < 10, "{}", lexical_depth(&legacy));
        // End tags that close nothing do not undo real nesting; nested lists are deep.
        assert!(lexical_depth(&"<span></x>".repeat(1_000)) >= 1_000);
        assert!(lexical_depth(&"<ul><li>".repeat(500)) >= 1_000);
        assert!(lexical_depth(&"<optgroup>".repeat(300)) >= 300);
        let sloppy_cells = "<table><tr>".to_owned() + &"<td><div>x".repeat(1_000) + "</table>";
        assert!(
            lexical_depth(&sloppy_cells) < 10,
            "{}",
            lexical_depth(&sloppy_cells)
        );
    }

    #[test]
    fn readable_text_without_chrome() {
        let page = r#"<!doctype html><html><head><title> Tides &amp; Moons </title>
            <style>body { color: red }</style><script>track()</script></head>
            <body><header><a href="/">Site</a> logo</header><nav><a href="/a">Menu item</a></nav>
            <main><article><header><h1>Why tides rise</h1></header>
            <p>The <a href="https://x">moon</a> pulls the sea.</p><h2>Spring tides</h2>
            <ul><li>new moon</li><li>full moon</li></ul></article></main>
            <aside>Related posts</aside><footer>© 2026 Site</footer></body></html>"#;
        let extracted = extract(page).expect("readable");
        assert_eq!(extracted.title.as_deref(), Some("Tides & Moons"));
        let text = &extracted.text;
        for kept in [
            "# Why tides rise",
            "The moon pulls the sea.",
            "## Spring tides",
            "full moon",
        ] {
            assert!(text.contains(kept), "{kept:?} missing from {text:?}");
        }
        for dropped in [
            "color",
            "track()",
            "Menu item",
            "logo",
            "Related posts",
            "© 2026",
            "https://x",
        ] {
            assert!(!text.contains(dropped), "{dropped:?} kept in {text:?}");
        }
        assert!(extracted.layout.markdown);
    }
}
