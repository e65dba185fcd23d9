//! Admission: everything a request must pass before a resolver runs, in one place so the order
//! is plain to see. `Pipeline` calls these hooks; on the way it settles which operation will run.
//!
//! 1. `prepare_request`: query length; automatic persisted queries (Apollo's protocol, texts in
//!    the cache's `apq` namespace so that replicas share them); nesting of the text, variables
//!    and extensions (before anything recursive sees them).
//! 2. `parse_query`: parsed documents cached in process by query text; alias count;
//!    introspection switch; no mutation over GET; the caller's role for the operation.
//! 3. `validation`: async-graphql's depth and complexity limits, given codes.
//! 4. `request`: every error leaves with an `extensions.code`, and is counted by it.
//!
//! Validation itself is not cached: complexity depends on the variables (`limit`, `first`).

use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::{
    ExtensionContext, NextParseQuery, NextPrepareRequest, NextRequest, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Variables};
use moka::sync::Cache;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::auth::{Caller, Role};
use crate::cache::CacheKey;
use crate::config::GraphqlConfig;
use crate::graphql::errors::{ApiError, code_of, codes, refusal, with_code};
use crate::services::Services;

use super::nesting;
use super::operation::{self, ChosenOperation};

/// Request data marking a GET request, on which mutations are refused.
#[derive(Debug, Clone, Copy)]
pub struct ViaGet;

pub struct Admission {
    shared: Arc<Shared>,
}

struct Shared {
    settings: GraphqlConfig,
    documents: Cache<String, Arc<ExecutableDocument>>,
}

impl Admission {
    pub fn new(settings: &GraphqlConfig) -> Self {
        Admission {
            shared: Arc::new(Shared {
                settings: settings.clone(),
                documents: Cache::builder()
                    .max_capacity(settings.document_cache_entries)
                    .build(),
            }),
        }
    }

    /// The admission of one request.
    pub(super) fn start(&self) -> AdmissionRequest {
        AdmissionRequest {
            shared: Arc::clone(&self.shared),
            operation_name: Mutex::new(None),
            chosen: Mutex::new(None),
        }
    }
}

pub(super) struct AdmissionRequest {
    shared: Arc<Shared>,
    /// The operation the client named, kept from `prepare_request` for `parse_query`.
    operation_name: Mutex<Option<String>>,
    /// The operation that will run, settled by `parse_query`.
    chosen: Mutex<Option<ChosenOperation>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PersistedQuery {
    version: i64,
    sha256_hash: String,
}

impl AdmissionRequest {
    /// Hands over the operation `parse_query` settled on; `None` before it ran or when the
    /// name picks none.
    pub(super) fn take_chosen(&self) -> Option<ChosenOperation> {
        self.chosen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    pub(super) async fn request(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextRequest<'_>,
    ) -> Response {
        let mut response = next.run(ctx).await;
        for error in &mut response.errors {
            // Errors raised by async-graphql itself after parsing carry no code: a bad
            // operation name or variables (no path), or an argument it could not coerce.
            let fallback = if error.path.is_empty() {
                codes::BAD_REQUEST
            } else {
                codes::BAD_INPUT
            };
            with_code(error, fallback);
            let code = code_of(error).unwrap_or(fallback).to_owned();
            metrics::counter!("graphql_errors_total", "code" => code).increment(1);
        }
        response
    }

    pub(super) async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let settings = &self.shared.settings;
        self.check_length(&request.query)?;
        if let Some(value) = request.extensions.remove("persistedQuery") {
            if !settings.persisted_queries {
                return Err(refusal(
                    codes::PERSISTED_QUERY_NOT_SUPPORTED,
                    "PersistedQueryNotSupported",
                ));
            }
            let persisted: PersistedQuery = async_graphql::from_value(value).map_err(|_| {
                refusal(
                    codes::BAD_REQUEST,
                    "extensions.persistedQuery needs `version` and `sha256Hash`",
                )
            })?;
            request.query = self.persisted_query(ctx, persisted, request.query).await?;
        }
        self.check_nesting(&request)?;
        *self
            .operation_name
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = request.operation_name.clone();
        next.run(ctx, request).await
    }

    pub(super) async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let documents = &self.shared.documents;
        let document = match documents.get(query) {
            Some(document) => ExecutableDocument::clone(&document),
            None => {
                let document = next.run(ctx, query, variables).await.map_err(|mut err| {
                    with_code(&mut err, codes::PARSE_FAILED);
                    err
                })?;
                documents.insert(query.to_owned(), Arc::new(document.clone()));
                document
            }
        };
        self.admit(ctx, &document).await?;
        Ok(document)
    }

    pub(super) async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let settings = &self.shared.settings;
        next.run(ctx).await.map_err(|mut errors| {
            for error in &mut errors {
                // async-graphql words its limit errors this way and gives them no code; a test
                // pins the wording, so an upstream change cannot pass unnoticed.
                let (code, message) = match error.message.as_str() {
                    "Query is nested too deep." => (
                        codes::DEPTH_LIMIT,
                        Some(format!(
                            "the query is nested deeper than {} levels (graphql.max_depth)",
                            settings.max_depth
                        )),
                    ),
                    "Query is too complex." => (
                        codes::COMPLEXITY_LIMIT,
                        Some(format!(
                            "the query costs more than {} (graphql.max_complexity; list fields \
                             cost their limit times their selection)",
                            settings.max_complexity
                        )),
                    ),
                    _ => (codes::VALIDATION_FAILED, None),
                };
                if let Some(message) = message {
                    error.message = message;
                }
                with_code(error, code);
            }
            errors
        })
    }
}

impl AdmissionRequest {
    fn check_length(&self, query: &str) -> ServerResult<()> {
        let limit = self.shared.settings.max_query_bytes;
        if query.len() > limit {
            return Err(refusal(
                codes::QUERY_TOO_LARGE,
                format!(
                    "the query is {} bytes; the limit is {limit} (graphql.max_query_bytes)",
                    query.len()
                ),
            ));
        }
        Ok(())
    }

    /// Refuses nesting deeper than `graphql.max_nesting` in the query text, the variables or
    /// the extensions, before the recursive parser and validator see them (see [`nesting`]).
    fn check_nesting(&self, request: &Request) -> ServerResult<()> {
        let limit = self.shared.settings.max_nesting;
        let found = [
            ("query", nesting::text_depth(&request.query, limit)),
            (
                "variables",
                nesting::deepest(request.variables.values(), limit),
            ),
            (
                "extensions",
                nesting::deepest(request.extensions.values(), limit),
            ),
        ];
        match found.iter().find(|(_, depth)| *depth > limit) {
            Some((part, _)) => Err(refusal(
                codes::NESTING_LIMIT,
                format!(
                    "nesting in the {part} is deeper than {limit} levels of brackets, braces or \
                     parentheses (graphql.max_nesting)"
                ),
            )),
            None => Ok(()),
        }
    }

    /// The query text for a persisted-query request: looked up when only the hash came,
    /// checked against the hash and stored when both came.
    async fn persisted_query(
        &self,
        ctx: &ExtensionContext<'_>,
        persisted: PersistedQuery,
        query: String,
    ) -> ServerResult<String> {
        if persisted.version != 1 {
            return Err(refusal(
                codes::PERSISTED_QUERY_NOT_SUPPORTED,
                format!(
                    "persisted query version {} is not supported (only 1)",
                    persisted.version
                ),
            ));
        }
        let hash = persisted.sha256_hash.to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(refusal(
                codes::BAD_REQUEST,
                "sha256Hash must be 64 hexadecimal characters",
            ));
        }
        let cache = &ctx.data_unchecked::<Services>().cache.persisted_queries;
        let key = CacheKey::of(&[hash.as_bytes()]);
        if query.is_empty() {
            return match cache.get(key).await {
                Some((text, _level)) => {
                    self.check_length(&text)?;
                    Ok(String::clone(&text))
                }
                // The message is what Apollo clients match on to send the full query.
                None => Err(refusal(
                    codes::PERSISTED_QUERY_NOT_FOUND,
                    "PersistedQueryNotFound",
                )),
            };
        }
        if hex::encode(Sha256::digest(query.as_bytes())) != hash {
            return Err(refusal(
                codes::PERSISTED_QUERY_HASH_MISMATCH,
                "provided sha does not match query",
            ));
        }
        cache.insert(key, query.clone()).await;
        Ok(query)
    }

    /// The checks that need the parsed document.
    async fn admit(
        &self,
        ctx: &ExtensionContext<'_>,
        document: &ExecutableDocument,
    ) -> ServerResult<()> {
        let settings = &self.shared.settings;
        let mut census = Census::default();
        for (_, operation) in document.operations.iter() {
            census.visit(&operation.node.selection_set.node);
        }
        for fragment in document.fragments.values() {
            census.visit(&fragment.node.selection_set.node);
        }
        if census.aliases > settings.max_aliases {
            return Err(refusal(
                codes::ALIAS_LIMIT,
                format!(
                    "the query has {} aliases; the limit is {} (graphql.max_aliases)",
                    census.aliases, settings.max_aliases
                ),
            ));
        }
        if census.introspection && !settings.introspection {
            return Err(refusal(
                codes::INTROSPECTION_DISABLED,
                "introspection is disabled on this server (graphql.introspection)",
            ));
        }
        let name = self
            .operation_name
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // An unknown or ambiguous name is async-graphql's to report, after validation.
        let Some(chosen) = operation::chosen(document, name) else {
            return Ok(());
        };
        let ty = chosen.ty;
        *self.chosen.lock().unwrap_or_else(PoisonError::into_inner) = Some(chosen);
        if ty == OperationType::Mutation && ctx.data_opt::<ViaGet>().is_some() {
            return Err(refusal(
                codes::METHOD_NOT_ALLOWED,
                "mutations must be sent with POST, not GET",
            ));
        }
        let needed = match ty {
            OperationType::Mutation => Role::Writer,
            OperationType::Query | OperationType::Subscription => Role::Reader,
        };
        let services = ctx.data_unchecked::<Services>();
        let anonymous = Caller::default();
        let caller = ctx.data_opt::<Caller>().unwrap_or(&anonymous);
        services
            .keys
            .authorize(caller, needed)
            .await
            .map_err(|err| ApiError::from(err).into_server_error())
    }
}

/// What a walk over every selection finds.
#[derive(Default)]
struct Census {
    aliases: usize,
    introspection: bool,
}

impl Census {
    fn visit(&mut self, set: &SelectionSet) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    if field.alias.is_some() {
                        self.aliases += 1;
                    }
                    let name = field.name.node.as_str();
                    if name == "__schema" || name == "__type" {
                        self.introspection = true;
                    }
                    self.visit(&field.selection_set.node);
                }
                Selection::InlineFragment(fragment) => {
                    self.visit(&fragment.node.selection_set.node);
                }
                Selection::FragmentSpread(_) => {}
            }
        }
    }
}
