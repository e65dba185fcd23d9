//! Resolver timing: every non-trivial field's duration goes to the Prometheus histogram
//! `graphql_field_duration_seconds{type,field}`; every operation to
//! `graphql_operation_duration_seconds{operation_name,operation_type}` (errors are counted by
//! `Admission`, which sees the ones raised before execution too). When the request asks (header `X-Selfrag-Timing: 1`, or
//! `graphql.timing_in_response`), the response carries `extensions.timing`: the total and the
//! slowest fields with their paths.
//!
//! Like async-graphql's tracing extension, it skips introspection and leaf fields (scalars and
//! enums), which resolve from memory and would only add noise and cost, and list elements (their
//! list field is timed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextResolve,
    ResolveInfo,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::registry::MetaTypeName;
use async_graphql::{Name, Response, ServerResult, Value, Variables};
use metrics::Histogram;

/// Request data that asks for `extensions.timing` in the response.
#[derive(Debug, Clone, Copy)]
pub struct TimingRequested;

/// Request data the extension fills with the executed operation's name (given by the client, or
/// the document's only named operation), so the HTTP layer can label its statistics.
#[derive(Debug, Clone, Default)]
pub struct OperationSlot(pub Arc<Mutex<Option<String>>>);

impl OperationSlot {
    pub fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// Fields listed in `extensions.timing.slowest`.
const SLOWEST: usize = 10;

pub struct Timing {
    always_report: bool,
    histograms: Arc<FieldHistograms>,
}

impl Timing {
    pub fn new(always_report: bool) -> Self {
        Timing {
            always_report,
            histograms: Arc::default(),
        }
    }
}

/// Histogram handles by parent type, then field: looked up with borrowed names, so timing a
/// field allocates nothing once its handle exists (the schema has a fixed set of fields).
#[derive(Default)]
struct FieldHistograms(RwLock<HashMap<String, HashMap<String, Histogram>>>);

impl FieldHistograms {
    fn get(&self, parent_type: &str, field: &str) -> Histogram {
        if let Some(histogram) = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(parent_type)
            .and_then(|fields| fields.get(field))
        {
            return histogram.clone();
        }
        let histogram = metrics::histogram!(
            "graphql_field_duration_seconds",
            "type" => parent_type.to_owned(),
            "field" => field.to_owned()
        );
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(parent_type.to_owned())
            .or_default()
            .insert(field.to_owned(), histogram.clone());
        histogram
    }
}

impl ExtensionFactory for Timing {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(TimingExtension {
            always_report: self.always_report,
            histograms: Arc::clone(&self.histograms),
            operation_type: Mutex::new("query"),
            document_name: Mutex::new(None),
            fields: Mutex::new(Vec::new()),
        })
    }
}

struct FieldTiming {
    path: String,
    parent_type: String,
    field: String,
    seconds: f64,
}

struct TimingExtension {
    always_report: bool,
    histograms: Arc<FieldHistograms>,
    operation_type: Mutex<&'static str>,
    /// The name of the document's only operation, when it has a name.
    document_name: Mutex<Option<String>>,
    /// Collected only when the response will report them.
    fields: Mutex<Vec<FieldTiming>>,
}

impl TimingExtension {
    fn reporting(&self, ctx: &ExtensionContext<'_>) -> bool {
        self.always_report || ctx.data_opt::<TimingRequested>().is_some()
    }
}

fn type_name(ty: OperationType) -> &'static str {
    match ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    }
}

#[async_trait::async_trait]
impl Extension for TimingExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        // The executed operation is chosen later by name; with one operation there is no doubt,
        // with several the first mutation wins the label (they are rare in one document).
        let ty = document
            .operations
            .iter()
            .map(|(_, op)| op.node.ty)
            .max_by_key(|ty| matches!(ty, OperationType::Mutation))
            .unwrap_or(OperationType::Query);
        *self
            .operation_type
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = type_name(ty);
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let started = Instant::now();
        let response = next.run(ctx, operation_name).await;
        let seconds = started.elapsed().as_secs_f64();
        let operation_type = *self
            .operation_type
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let name = operation_name
            .map(str::to_owned)
            .or_else(|| {
                self.document_name
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
            })
            .unwrap_or_else(|| "anonymous".to_owned());
        if let Some(slot) = ctx.data_opt::<OperationSlot>() {
            *slot.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(name.clone());
        }
        metrics::histogram!(
            "graphql_operation_duration_seconds",
            "operation_name" => name.clone(),
            "operation_type" => operation_type
        )
        .record(seconds);
        metrics::counter!("graphql_operations_total", "operation_name" => name, "operation_type" => operation_type)
            .increment(1);
        if !self.reporting(ctx) {
            return response;
        }
        let mut fields =
            std::mem::take(&mut *self.fields.lock().unwrap_or_else(PoisonError::into_inner));
        fields.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
        fields.truncate(SLOWEST);
        let slowest = fields
            .into_iter()
            .map(|f| {
                Value::Object(
                    [
                        (Name::new("path"), Value::String(f.path)),
                        (Name::new("type"), Value::String(f.parent_type)),
                        (Name::new("field"), Value::String(f.field)),
                        (Name::new("ms"), Value::from(f.seconds * 1000.0)),
                    ]
                    .into_iter()
                    .collect(),
                )
            })
            .collect();
        let timing = Value::Object(
            [
                (Name::new("totalMs"), Value::from(seconds * 1000.0)),
                (Name::new("slowest"), Value::List(slowest)),
            ]
            .into_iter()
            .collect(),
        );
        response.extension("timing", timing)
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        // List elements resolve with the list as their "parent type"; the list field itself is
        // already timed, so they would only repeat it per element.
        let skip = info.is_for_introspection
            || info.parent_type.starts_with('[')
            || ctx
                .schema_env
                .registry
                .types
                .get(MetaTypeName::concrete_typename(info.return_type))
                .is_some_and(|ty| ty.is_leaf());
        if skip {
            return next.run(ctx, info).await;
        }
        let histogram = self.histograms.get(info.parent_type, info.name);
        let labels = self.reporting(ctx).then(|| {
            (
                info.path_node.to_string(),
                info.parent_type.to_owned(),
                info.name.to_owned(),
            )
        });
        let started = Instant::now();
        let result = next.run(ctx, info).await;
        let seconds = started.elapsed().as_secs_f64();
        histogram.record(seconds);
        if let Some((path, parent_type, field)) = labels {
            self.fields
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(FieldTiming {
                    path,
                    parent_type,
                    field,
                    seconds,
                });
        }
        result
    }
}
