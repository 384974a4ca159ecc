//! The Kubernetes REST API subset over HTTP: discovery, CRUD, patch, apply, status, watch, errors.
//!
//! Paths are parsed by hand because the Kubernetes URL grammar (`/api/v1/namespaces/{ns}/pods/{name}/log`,
//! `/apis/{group}/{version}/watch/...`) does not fit a fixed route table well. Every failure is a
//! `Status` object with the code and reason the API server would use.

pub mod discovery;
mod forward_target;
mod managed;
pub mod output;
mod page;
pub mod patch;
mod portforward;
pub mod protobuf;
mod request;
pub mod requests;
mod resource;
mod response;
pub mod review;
mod scale;
pub mod select;
mod server;
mod spdy;
mod spdy_dictionary;
pub mod transport;
pub mod watch;

pub use response::status_response;
pub use server::ApiServer;

/// The pod annotation whose text `GET .../pods/<name>/log` returns (written by the controllers).
pub use crate::controllers::LOG_ANNOTATION;
