//! The one extension on the schema. async-graphql calls every extension's `resolve` hook for
//! every field, each through a boxed future, so admission and timing share one extension
//! instead of paying for two (`cargo bench --bench search -- graphql/`). Each part keeps its
//! own module; this only calls them in order.

use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest, NextResolve, NextValidation, ResolveInfo,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{
    Request, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
};

use opentelemetry::trace::TraceContextExt as _;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::admission::{Admission, AdmissionRequest};
use super::timing::{Timing, TimingRequest};
use crate::config::GraphqlConfig;
use crate::graphql::responses::{Fact, ResponseCapture};

/// Request data the pipeline fills with the executed operation's label (the name the client
/// gave, the document's only operation's name, or `anonymous`), so the HTTP layer can label
/// its statistics.
#[derive(Debug, Clone, Default)]
pub struct OperationSlot(pub Arc<Mutex<Option<String>>>);

impl OperationSlot {
    pub fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// Admission always; timing when `graphql.field_timing` is on.
pub struct Pipeline {
    admission: Admission,
    timing: Option<Timing>,
}

impl Pipeline {
    pub fn new(settings: &GraphqlConfig) -> Self {
        Pipeline {
            admission: Admission::new(settings),
            timing: settings
                .field_timing
                .then(|| Timing::new(settings.timing_in_response, settings.max_operation_series)),
        }
    }
}

impl ExtensionFactory for Pipeline {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PipelineRequest {
            admission: self.admission.start(),
            timing: self.timing.as_ref().map(Timing::start),
        })
    }
}

struct PipelineRequest {
    admission: AdmissionRequest,
    timing: Option<TimingRequest>,
}

#[async_trait::async_trait]
impl Extension for PipelineRequest {
    /// The operation's span (`graphql.operation`), named once the operation is known.
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let span = tracing::info_span!(
            "graphql.operation",
            otel.name = "graphql",
            graphql.operation.name = tracing::field::Empty,
            graphql.operation.type = tracing::field::Empty,
        );
        self.admission.request(ctx, next).instrument(span).await
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.admission.prepare_request(ctx, request, next).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        self.admission
            .parse_query(ctx, query, variables, next)
            .await
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        self.admission.validation(ctx, next).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let operation = self.admission.take_chosen();
        let span = tracing::Span::current();
        // Over graphql-ws, `request` (which makes the operation's span) is not called: the
        // current span is then another one, not to be renamed.
        if let Some(operation) = &operation
            && crate::telemetry::traces::exporting()
            && span
                .metadata()
                .is_some_and(|m| m.name() == "graphql.operation")
        {
            let ty = match operation.ty {
                OperationType::Query => "query",
                OperationType::Mutation => "mutation",
                OperationType::Subscription => "subscription",
            };
            // Renamed through OpenTelemetry: once started, a span ignores a recorded `otel.name`.
            span.context()
                .span()
                .update_name(format!("{ty} {}", operation.label()));
            span.record("graphql.operation.name", operation.label());
            span.record("graphql.operation.type", ty);
        }
        let response = match &self.timing {
            Some(timing) => {
                timing
                    .execute(ctx, operation_name, operation.as_ref(), next)
                    .await
            }
            None => next.run(ctx, operation_name).await,
        };
        if let (Some(slot), Some(operation)) = (ctx.data_opt::<OperationSlot>(), operation) {
            *slot.0.lock().unwrap_or_else(PoisonError::into_inner) =
                Some(operation.label().to_owned());
        }
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        // Executing for the response cache: its root fields are noted, and the per-request
        // facts handed over in exchange for markers. String comparisons first: the request
        // data is looked up only for the fields concerned.
        let root = info.path_node.parent.is_none();
        let fact = Fact::of_field(info.parent_type, info.name);
        let capture = if root || fact.is_some() {
            ctx.data_opt::<ResponseCapture>()
        } else {
            None
        };
        if root && let Some(capture) = capture {
            capture.root_field(info.parent_type, info.name);
        }
        let resolved = match &self.timing {
            Some(timing) => timing.resolve(ctx, info, next).await,
            None => next.run(ctx, info).await,
        };
        match (fact, capture, resolved) {
            (Some(fact), Some(capture), Ok(Some(value))) => Ok(Some(capture.fact(fact, value))),
            (_, _, resolved) => resolved,
        }
    }
}
