//! Bounds on nesting, checked before anything recursive sees the request.
//!
//! async-graphql's parser (pest) and validator recurse once per nested list, object, argument
//! list or selection set, and a few kilobytes of `[[[[…` overflow a worker thread's stack,
//! which aborts the whole process: no error, no log line, every request in flight lost. Its
//! own recursion limit applies to selection sets after parsing, too late for that. So the
//! query text is scanned first, linearly and without recursion, and so are the variables and
//! extensions (JSON, where serde_json's own limit of 128 already holds while reading, but the
//! values then go through the same recursive validation as literals do).

use async_graphql::Value;

/// How deep `text` nests `{`, `[` and `(` outside strings and comments, stopping as soon as
/// it passes `limit` (so the answer is exact up to `limit` and `limit + 1` beyond it).
///
/// The lexer rules are GraphQL's as async-graphql's grammar has them: `"…"` strings with
/// backslash escapes that end before a line terminator, `"""…"""` block strings (where only
/// `\"""` escapes), and `#` comments up to `\n` or `\r`. Where a string or block string is
/// not closed, the parser does not read it as one either (it falls back to shorter tokens), so
/// scanning resumes just after its opening quote: brackets may be counted that the parser
/// would not see as nesting, never the other way round. Unbalanced brackets are the parser's
/// to report; this only measures.
pub fn text_depth(text: &str, limit: usize) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut at) = (0usize, 0usize, 0usize);
    while at < bytes.len() {
        match bytes[at] {
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
                if deepest > limit {
                    return deepest;
                }
                at += 1;
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                at += 1;
            }
            b'#' => {
                at = bytes[at..]
                    .iter()
                    .position(|b| matches!(b, b'\n' | b'\r'))
                    .map_or(bytes.len(), |end| at + end);
            }
            b'"' if bytes[at..].starts_with(b"\"\"\"") => {
                at = block_string_end(bytes, at + 3).unwrap_or(at + 1);
            }
            b'"' => at = string_end(bytes, at + 1).unwrap_or(at + 1),
            _ => at += 1,
        }
    }
    deepest
}

/// Index just past the closing quote of a `"…"` string whose body starts at `at`, or `None`
/// when a line terminator or the end comes first (not a string to the parser).
fn string_end(bytes: &[u8], mut at: usize) -> Option<usize> {
    while at < bytes.len() {
        match bytes[at] {
            b'\\' if matches!(bytes.get(at + 1), Some(b'\n' | b'\r') | None) => return None,
            b'\\' => at += 2,
            b'"' => return Some(at + 1),
            b'\n' | b'\r' => return None,
            _ => at += 1,
        }
    }
    None
}

/// Index just past the `"""` closing a block string whose body starts at `at`, or `None` when
/// there is none.
fn block_string_end(bytes: &[u8], mut at: usize) -> Option<usize> {
    while at < bytes.len() {
        if bytes[at..].starts_with(b"\\\"\"\"") {
            at += 4;
        } else if bytes[at..].starts_with(b"\"\"\"") {
            return Some(at + 3);
        } else {
            at += 1;
        }
    }
    None
}

/// How deep a value (variables, extensions) nests lists and objects, counting itself as 1
/// when it is one; stops descending past `limit`, so the walk's own recursion is bounded.
pub fn value_depth(value: &Value, limit: usize) -> usize {
    match value {
        Value::List(items) => nested(items, limit),
        Value::Object(fields) => nested(fields.values(), limit),
        _ => 0,
    }
}

/// 1 for a list or object, plus the deepest of its `children`, descending no further than
/// `limit`.
fn nested<'a>(children: impl IntoIterator<Item = &'a Value>, limit: usize) -> usize {
    if limit == 0 {
        return 1;
    }
    1 + deepest(children, limit - 1)
}

/// The deepest of several values (the variables, or the extensions).
pub fn deepest<'a>(values: impl IntoIterator<Item = &'a Value>, limit: usize) -> usize {
    values
        .into_iter()
        .map(|value| value_depth(value, limit))
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_brackets_braces_and_parentheses() {
        assert_eq!(text_depth("{ a }", 64), 1);
        assert_eq!(text_depth("{ a(x: [[1]]) { b } }", 64), 4);
        assert_eq!(text_depth("query ($v: [[Int]]) { a }", 64), 3);
        assert_eq!(text_depth("", 64), 0);
    }

    #[test]
    fn ignores_strings_block_strings_and_comments() {
        assert_eq!(text_depth(r#"{ a(x: "[[[{{{(") }"#, 64), 2);
        assert_eq!(text_depth(r#"{ a(x: "\"[[[") }"#, 64), 2);
        assert_eq!(
            text_depth("{ a(x: \"\"\" [[[ \\\"\"\" [[[ \"\"\") }", 64),
            2
        );
        assert_eq!(text_depth("# {{{{{{\n{ a }", 64), 1);
        assert_eq!(text_depth("# {{{{{{\r{ a }", 64), 1);
    }

    /// Where the parser would not read a string or comment, neither does the scan: found by a
    /// review, each of these hid 5,000 levels that overflowed the stack.
    #[test]
    fn unterminated_strings_and_carriage_returns_hide_nothing() {
        let deep =
            |open: &str| format!("{{ a(x: {open}{}1{}) }}", "[".repeat(200), "]".repeat(200));
        // A comment ends at a lone carriage return.
        assert!(text_depth(&deep("#\r"), 64) > 64);
        // An unclosed block string is read as an empty string and a quote.
        assert!(text_depth(&deep("\"\"\"\""), 64) > 64);
        // An unclosed string, cut by a line terminator.
        assert!(text_depth(&deep("\"\r"), 64) > 64);
        assert!(text_depth(&deep("\"\n"), 64) > 64);
        assert!(text_depth(&deep("\""), 64) > 64);
    }

    #[test]
    fn stops_just_past_the_limit() {
        let deep = format!(
            "{{ a(x: {}1{}) }}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(text_depth(&deep, 64), 65);
    }

    #[test]
    fn values_nest_like_literals() {
        let mut value = Value::from(1);
        for _ in 0..10 {
            value = Value::List(vec![value]);
        }
        assert_eq!(value_depth(&value, 64), 10);
        assert_eq!(value_depth(&value, 4), 5);
        assert_eq!(value_depth(&Value::from("x"), 64), 0);
    }
}
