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

pub fn extract(html: &str) -> Result<Extracted, FormatError> {
    let unreadable = |err: std::io::Error| FormatError::Unreadable {
        format: "HTML",
        reason: err.to_string(),
    };
    let tree = CONVERTER.html_to_tree(html).map_err(unreadable)?;
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
