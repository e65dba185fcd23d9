//! Resolver timing: every non-trivial field's duration goes to the Prometheus histogram
//! `graphql_field_duration_seconds{type,field}`; every operation to
//! `graphql_operation_duration_seconds{operation_name,operation_type}` and
//! `graphql_operations_total` (errors are counted by admission, which sees the ones raised
//! before execution too). When the request asks (header `X-Selfrag-Timing: 1`, or
//! `graphql.timing_in_response`), the response carries `extensions.timing`: the total and the
//! slowest fields with their paths.
//!
//! Like async-graphql's tracing extension, it skips introspection and leaf fields (scalars and
//! enums), which resolve from memory and would only add noise and cost, and list elements (their
//! list field is timed).
//!
//! The resolve hook runs for every field of every response, so it costs one hash lookup in a
//! table planned once per schema, two TSC clock reads and one histogram sample: no locks, no
//! allocation, no request-data lookups (`cargo bench --bench search -- graphql/`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use async_graphql::extensions::{ExtensionContext, NextExecute, NextResolve, ResolveInfo};
use async_graphql::parser::types::OperationType;
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{Name, Response, ServerResult, Value};
use metrics::{Counter, Histogram};
// The TSC clock: a pair of reads costs a third of std's (20 vs 55 ns here), twice per timed field.
use quanta::Instant;
use rustc_hash::FxHashMap;

use super::operation::{ANONYMOUS, ChosenOperation};

/// Request data that asks for `extensions.timing` in the response.
#[derive(Debug, Clone, Copy)]
pub struct TimingRequested;

/// Fields listed in `extensions.timing.slowest`.
const SLOWEST: usize = 10;

/// The `operation_name` label of operations past `graphql.max_operation_series`.
const OTHER_OPERATIONS: &str = "(other)";

pub struct Timing {
    shared: Arc<Shared>,
}

struct Shared {
    always_report: bool,
    /// Planned on the first resolved field, from the schema's registry (the factory is built
    /// before the schema, so it cannot be planned earlier).
    fields: OnceLock<FieldPlans>,
    operations: OperationSeries,
}

impl Timing {
    /// `max_operation_series` bounds the distinct operation names labelled in Prometheus.
    pub fn new(always_report: bool, max_operation_series: usize) -> Self {
        Timing {
            shared: Arc::new(Shared {
                always_report,
                fields: OnceLock::new(),
                operations: OperationSeries::new(max_operation_series),
            }),
        }
    }

    /// The timing of one request.
    pub(super) fn start(&self) -> TimingRequest {
        TimingRequest {
            shared: Arc::clone(&self.shared),
            reporting: AtomicBool::new(false),
            fields: Mutex::new(Vec::new()),
        }
    }
}

/// What the extension does with one field, decided once per schema.
enum FieldPlan {
    /// A leaf (scalar or enum) or introspection field: resolved from memory, not worth timing.
    Skip,
    /// Timed; the histogram is registered on first use, so `/metrics` lists the fields that ran.
    Timed(OnceLock<Histogram>),
}

/// Plans by parent type, then field name. Read-only once built, so lookups take no lock; list
/// element types (`[Hit!]!`) are absent and therefore skipped.
struct FieldPlans(FxHashMap<String, FxHashMap<String, FieldPlan>>);

impl FieldPlans {
    fn plan(registry: &Registry) -> Self {
        let is_leaf = |type_ref: &str| {
            registry
                .types
                .get(MetaTypeName::concrete_typename(type_ref))
                .is_some_and(MetaType::is_leaf)
        };
        let types = registry
            .types
            .iter()
            .filter_map(|(type_name, ty)| {
                let fields = ty
                    .fields()?
                    .iter()
                    .map(|(name, field)| {
                        let skip = type_name.starts_with("__")
                            || name.starts_with("__")
                            || is_leaf(&field.ty);
                        let plan = if skip {
                            FieldPlan::Skip
                        } else {
                            FieldPlan::Timed(OnceLock::new())
                        };
                        (name.clone(), plan)
                    })
                    .collect();
                Some((type_name.clone(), fields))
            })
            .collect();
        FieldPlans(types)
    }

    /// The field's histogram, or `None` when the field is not timed.
    fn histogram(&self, parent_type: &str, field: &str) -> Option<&Histogram> {
        match self.0.get(parent_type)?.get(field)? {
            FieldPlan::Skip => None,
            FieldPlan::Timed(histogram) => Some(histogram.get_or_init(|| {
                metrics::histogram!(
                    "graphql_field_duration_seconds",
                    "type" => parent_type.to_owned(),
                    "field" => field.to_owned()
                )
            })),
        }
    }
}

/// Per-operation series handles, kept so that a request costs no label hashing in the metrics
/// registry. Operation names come from clients: past `max` distinct names, further ones share
/// the `(other)` label instead of growing Prometheus without bound.
struct OperationSeries {
    max: usize,
    /// By operation type (see `type_index`), then name.
    known: RwLock<[HashMap<String, Series>; 3]>,
}

#[derive(Clone)]
struct Series {
    duration: Histogram,
    count: Counter,
}

impl Series {
    fn register(name: &str, operation_type: &'static str) -> Self {
        Series {
            duration: metrics::histogram!(
                "graphql_operation_duration_seconds",
                "operation_name" => name.to_owned(),
                "operation_type" => operation_type
            ),
            count: metrics::counter!(
                "graphql_operations_total",
                "operation_name" => name.to_owned(),
                "operation_type" => operation_type
            ),
        }
    }
}

impl OperationSeries {
    fn new(max: usize) -> Self {
        OperationSeries {
            max,
            known: RwLock::default(),
        }
    }

    fn record(&self, name: &str, ty: OperationType, seconds: f64) {
        let known = self.known.read().unwrap_or_else(PoisonError::into_inner);
        let label = self.label(&known, name, ty);
        let series = known[type_index(ty)].get(label).cloned();
        drop(known);
        let series = series.unwrap_or_else(|| self.register(name, ty));
        series.duration.record(seconds);
        series.count.increment(1);
    }

    /// The label `name` is counted under: its own while it has a series or there is room for
    /// one, `(other)` past the bound.
    fn label<'n>(
        &self,
        known: &[HashMap<String, Series>; 3],
        name: &'n str,
        ty: OperationType,
    ) -> &'n str {
        let total: usize = known.iter().map(HashMap::len).sum();
        if total < self.max || known[type_index(ty)].contains_key(name) {
            name
        } else {
            OTHER_OPERATIONS
        }
    }

    /// Only when the label has no series yet: once a label has one, requests take the read lock.
    #[cold]
    fn register(&self, name: &str, ty: OperationType) -> Series {
        let mut known = self.known.write().unwrap_or_else(PoisonError::into_inner);
        let label = self.label(&known, name, ty);
        known[type_index(ty)]
            .entry(label.to_owned())
            .or_insert_with(|| Series::register(label, type_name(ty)))
            .clone()
    }
}

fn type_index(ty: OperationType) -> usize {
    match ty {
        OperationType::Query => 0,
        OperationType::Mutation => 1,
        OperationType::Subscription => 2,
    }
}

fn type_name(ty: OperationType) -> &'static str {
    match ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    }
}

struct FieldTiming {
    path: String,
    parent_type: String,
    field: String,
    seconds: f64,
}

pub(super) struct TimingRequest {
    shared: Arc<Shared>,
    /// Whether fields are collected for `extensions.timing`; decided once per request.
    reporting: AtomicBool,
    /// Collected only when the response will report them.
    fields: Mutex<Vec<FieldTiming>>,
}

impl TimingRequest {
    /// Times the operation admission chose (`None` only if execution runs without one, which
    /// async-graphql does not do; it is then counted as an anonymous query).
    pub(super) async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        operation: Option<&ChosenOperation>,
        next: NextExecute<'_>,
    ) -> Response {
        let reporting = self.shared.always_report || ctx.data_opt::<TimingRequested>().is_some();
        self.reporting.store(reporting, Ordering::Relaxed);
        let started = Instant::now();
        let response = next.run(ctx, operation_name).await;
        let seconds = started.elapsed().as_secs_f64();
        let (label, ty) =
            operation.map_or((ANONYMOUS, OperationType::Query), |op| (op.label(), op.ty));
        self.shared.operations.record(label, ty, seconds);
        if !reporting {
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

    pub(super) async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.is_for_introspection {
            return next.run(ctx, info).await;
        }
        let plans = self
            .shared
            .fields
            .get_or_init(|| FieldPlans::plan(&ctx.schema_env.registry));
        let Some(histogram) = plans.histogram(info.parent_type, info.name) else {
            return next.run(ctx, info).await;
        };
        let labels = self.reporting.load(Ordering::Relaxed).then(|| {
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
