//! The integration suite: one binary (one link of the heavy dependencies), a module per feature.
//! Scenarios declared with `on_every_backend!` run against SQLite, PostgreSQL and (when
//! `SELFRAG_TEST_QDRANT_URL` names a server) Qdrant.

#![recursion_limit = "256"] // the server futures are deep; clippy computes their layouts

mod faults;
mod helpers;

mod apq;
mod auth;
mod browser;
mod bulk;
mod cache;
mod chunking;
mod cli;
mod corpus;
mod csrf;
mod embedding;
mod errors;
mod formats;
mod fuzz;
mod graphiql;
mod hardening;
mod health;
mod http;
mod hybrid;
mod ingest;
mod layering;
mod limits;
mod operations;
mod ratelimit;
mod recall;
mod recovery;
mod responses;
mod scale_out;
mod schema;
mod search;
mod startup;
mod storage;
mod subscriptions;
mod timing;
mod traces;
mod updates;
