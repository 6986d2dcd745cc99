//! The AYS daemon: a REST API over one or more repositories, served by `ays daemon`.
//!
//! A daemon serves repositories, each named by its directory name, over HTTP with JSON bodies
//! shaped after AYS 9's API (`/ays/repository/{repository}/service/{role}/{name}`, …). Every
//! route but `GET /health` and the dashboard's needs the header `Authorization: Bearer
//! <token>`, compared in constant time; the token is one per user ([`token`]). Every error is
//! answered with a JSON body `{"error": {"code", "message"}}` whose code is stable.
//! `GET /openapi.json` gives the OpenAPI 3 document, generated from the handlers' types.
//!
//! `GET /dashboard` (`GET /` redirects there) serves the dashboard: one self-contained HTML page
//! (`assets/dashboard.html`, built into the binary) that shows repositories, services, runs with
//! their live job states, and job logs. It holds no data, so it needs no token: its script
//! reads the API with the token from the URL fragment (`/dashboard#token=…`, never sent to the
//! server) or from its form. The OpenAPI document does not list it.
//!
//! **What it must not know**: it uses ays-core and ays-run through their public API only, as
//! any embedder does; it holds no domain rule, names no store backend, and has no CLI types.
//!
//! # Modules
//!
//! - [`Repositories`]: the repositories served at start, opened once and shared by requests;
//!   [`repositories_under`] finds those of a directory. The served set, each repository with
//!   its run queue, is the `queue` module's registry: runs asked for through the API are stored
//!   in the repository's store, executed one at a time per repository, and continued after a
//!   restart.
//! - the `recurring` module: the scheduler that runs recurring actions when they are due.
//! - [`router`] over an [`ApiState`]: the routes and their layers (tracing, body limit,
//!   token), which tests drive in-process.
//! - [`Server`] ([`DaemonConfig`], [`serve`], [`shutdown_signal`]): binds an address (a
//!   loopback one unless remote access is allowed), serves, and shuts down gracefully on
//!   SIGTERM or Ctrl-C.
//! - [`token`]: the token file (`$AYS_CONFIG_DIR/token`, …), created with mode 0600 and
//!   replaced atomically.
//! - [`DaemonError`]: why a daemon cannot start or stopped.
//!
//! Blocking calls into ays-core and ays-run run on tokio's blocking threads. Unix only (file
//! modes, signals).
//!
//! # Example
//!
//! ```
//! use ays_core::{InitOptions, OpenOptions, Repository};
//! use ays_daemon::{ApiState, Repositories, router, token::Token};
//! use axum::body::Body;
//! use axum::http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! let dir = tempfile::tempdir()?;
//! let root = dir.path().join("shop");
//! let store = Some("mem://example".to_owned());
//! Repository::init(&root, InitOptions { store_url: store.clone(), ..InitOptions::default() })?;
//! let repositories = Repositories::open(&[root], &OpenOptions { store_url: store })?;
//! let token = Token::generate()?;
//! let app = router(ApiState::new(repositories, token.clone()));
//!
//! let request = Request::get("/ays/repository/shop")
//!     .header("authorization", format!("Bearer {}", token.as_str()))
//!     .body(Body::empty())?;
//! let response = tokio::runtime::Runtime::new()?.block_on(app.oneshot(request))?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![warn(unreachable_pub)]
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod api;
mod error;
mod names;
mod queue;
mod recurring;
mod repositories;
mod server;
pub mod token;

pub use api::{ApiState, DEFAULT_BODY_LIMIT, router};
pub use error::DaemonError;
pub use repositories::{Repositories, repositories_under};
pub use server::{
    DEFAULT_GRACE, DEFAULT_PORT, DaemonConfig, Server, is_loopback, serve, shutdown_signal,
};
