//! Which operation of a parsed document will run. Admission decides it before execution (the
//! caller's role depends on it); timing and the HTTP statistics label their series with it.

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};

/// The label of operations without a name.
pub const ANONYMOUS: &str = "anonymous";

/// The operation that will run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenOperation {
    /// The name the client sent, or the document's only operation's name.
    pub name: Option<String>,
    pub ty: OperationType,
}

impl ChosenOperation {
    /// The label of metrics and statistics: anonymous operations share one.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(ANONYMOUS)
    }
}

/// The operation the client named, or the document's only one. `None` when the name picks
/// nothing (or nothing was named among several): async-graphql reports that after validation.
pub fn chosen(document: &ExecutableDocument, requested: Option<String>) -> Option<ChosenOperation> {
    let (name, ty) = match (&document.operations, requested) {
        (DocumentOperations::Single(op), None) => (None, op.node.ty),
        // async-graphql refuses a name for a document without named operations.
        (DocumentOperations::Single(_), Some(_)) => return None,
        (DocumentOperations::Multiple(ops), Some(requested)) => {
            let ty = ops.get(requested.as_str())?.node.ty;
            (Some(requested), ty)
        }
        (DocumentOperations::Multiple(ops), None) => {
            let mut all = ops.iter();
            match (all.next(), all.next()) {
                (Some((name, op)), None) => (Some(name.to_string()), op.node.ty),
                _ => return None,
            }
        }
    };
    Some(ChosenOperation { name, ty })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(query).expect("parses")
    }

    fn pick(query: &str, requested: Option<&str>) -> Option<(Option<String>, OperationType)> {
        chosen(&parse(query), requested.map(str::to_owned)).map(|op| (op.name, op.ty))
    }

    #[test]
    fn the_only_operation_is_chosen_and_named_by_the_document() {
        assert_eq!(pick("{ a }", None), Some((None, OperationType::Query)));
        assert_eq!(
            pick("mutation Save { a }", None),
            Some((Some("Save".into()), OperationType::Mutation))
        );
        assert_eq!(
            pick("query Q { a }", Some("Q")),
            Some((Some("Q".into()), OperationType::Query))
        );
    }

    #[test]
    fn among_several_the_requested_name_decides() {
        let document = "query Read { a } mutation Write { b }";
        assert_eq!(
            pick(document, Some("Write")),
            Some((Some("Write".into()), OperationType::Mutation))
        );
        assert_eq!(pick(document, Some("Missing")), None);
        assert_eq!(pick(document, None), None);
        assert_eq!(pick("{ a }", Some("Named")), None);
    }

    #[test]
    fn anonymous_operations_share_a_label() {
        let op = chosen(&parse("{ a }"), None).expect("chosen");
        assert_eq!(op.label(), "anonymous");
    }
}
