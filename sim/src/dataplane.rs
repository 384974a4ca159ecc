//! Per-namespace inference endpoint speaking Open Inference Protocol V2 over REST and gRPC:
//! the stand-in for a namespace's `seldon-mesh` Service (envoy in front of the model servers).
//!
//! One loopback port serves REST (HTTP/1.1) and gRPC (h2c) together, like `seldon-mesh:80`.
//!
//! # Routing (as Seldon's envoy does it)
//! - The `seldon-model` header (REST) or metadata entry (gRPC) names the model.
//! - REST only: without the header, the model comes from the path `/v2/models/{name}/...`;
//!   a header overrides the path.
//! - gRPC without `seldon-model` metadata has no route: `UNIMPLEMENTED` (what envoy's 404
//!   local reply becomes for gRPC). REST without a model (e.g. `/v2/health/ready` without the
//!   header) has no route: 404 with an `{"error"}` body. Health and server metadata are served
//!   only when the header names a ready model.
//! - A model that is not Ready in the namespace: REST 404 `{"error"}`, gRPC `NOT_FOUND`.
//! - A model whose server pods envoy cannot reach (NetworkPolicy, [`Upstream`]): REST 503 with
//!   envoy's local reply [`UPSTREAM_TIMEOUT`], gRPC `UNAVAILABLE` (docs/seldon-behaviour.md §17).
//! - Inputs whose name, datatype or shape do not fit the model signature: REST 400, gRPC
//!   `INVALID_ARGUMENT`, naming the input. Responses name the model `<model>_<version>` and
//!   carry `model_version` and the `x-seldon-route` header (`:<model>_<version>:`).
//! - Experiments ([`ExperimentRoute`], docs/seldon-behaviour.md §19): a route named
//!   `<experiment>.experiment` (and one named after the default model) picks a candidate by
//!   weight per request; an `x-seldon-route` header sent back picks that candidate (sticky);
//!   a plain model's route matches only without that header; a mirror gets a copy (counted).
//!
//! # Defects ([`MeshFlags`])
//! - `ignores_model_header`: REST routes by path only; gRPC ignores the metadata and routes by
//!   the message's own `model_name`/`name` field (the gRPC analogue of the path), so a request
//!   without metadata is answered and metadata never overrides the body.
//! - `wrong_output`: every output value is perturbed (+0.25 for floats, +1 for integers, booleans
//!   flipped).
//! - `unknown_model_answered_200`: an unknown model is answered as if it existed: readiness
//!   true, metadata and zero-filled outputs borrowed from the first Ready model (by name; no
//!   outputs when none is Ready), variable dimensions set to 1.
//! - `pipeline_step_skipped`: a pipeline answers with its first step's outputs.
//!
//! # Pipelines
//! `seldon-model: <name>.pipeline` addresses a Ready pipeline instead of a model (envoy routes it to
//! the pipeline gateway); see [`pipeline`]. Unknown pipelines: REST 404, gRPC `NOT_FOUND`.

mod grpc;
mod model;
mod pipeline;
mod rest;
mod routes;
mod shared;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use model::{
    ModelSignature, PipelineStep, Predictor, ServedModel, ServedPipeline, TensorSpec,
    UPSTREAM_TIMEOUT, Upstream,
};
pub use pipeline::{PIPELINE_SUFFIX, addressed_pipeline};
pub use routes::{ExperimentRoute, ROUTE_HEADER, route_value};
use shared::Shared;
pub use shared::{MODEL_HEADER, MeshFlags};

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// `start` was called outside a Tokio runtime.
    #[error(
        "the inference endpoint for namespace {namespace} must be started inside a Tokio runtime"
    )]
    NoRuntime {
        /// Namespace of the endpoint.
        namespace: String,
    },
    /// The loopback port could not be bound.
    #[error("cannot bind the inference endpoint for namespace {namespace} on 127.0.0.1: {source}")]
    Bind {
        /// Namespace of the endpoint.
        namespace: String,
        /// The socket error.
        source: std::io::Error,
    },
}

/// A running inference endpoint for one namespace; stops when dropped.
pub struct Mesh {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Mesh {
    /// Binds `127.0.0.1:0` and serves REST and gRPC on it. Must be called inside a Tokio runtime.
    pub fn start(namespace: &str, flags: MeshFlags) -> Result<Mesh, MeshError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| MeshError::NoRuntime {
            namespace: namespace.to_string(),
        })?;
        let bind_err = |source| MeshError::Bind {
            namespace: namespace.to_string(),
            source,
        };
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(bind_err)?;
        std_listener.set_nonblocking(true).map_err(bind_err)?;
        let addr = std_listener.local_addr().map_err(bind_err)?;
        let listener = {
            let _entered = handle.enter();
            tokio::net::TcpListener::from_std(std_listener).map_err(bind_err)?
        };
        let shared = Arc::new(Shared {
            namespace: namespace.to_string(),
            flags,
            models: RwLock::new(BTreeMap::new()),
            routes: RwLock::new(BTreeMap::new()),
            mirrored: std::sync::Mutex::new(BTreeMap::new()),
            pipelines: RwLock::new(BTreeMap::new()),
        });
        let router = rest::router(shared.clone()).route_service(
            &format!("/{}/{{*rpc}}", grpc::SERVICE_NAME),
            grpc::routes(shared.clone()),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = handle.spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "inference endpoint stopped with an error");
            }
        });
        Ok(Mesh {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Address serving both REST (`http://addr/v2/...`) and gRPC (h2c).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Namespace this endpoint serves.
    pub fn namespace(&self) -> &str {
        &self.shared.namespace
    }

    /// Replaces, at once, the set of models Ready in the namespace.
    pub fn set_models(&self, models: Vec<ServedModel>) {
        let map = models.into_iter().map(|m| (m.name.clone(), m)).collect();
        *self.shared.models.write().expect("model table lock") = map;
    }

    /// Replaces, at once, the namespace's Experiment routes (by route name).
    pub fn set_routes(&self, routes: BTreeMap<String, ExperimentRoute>) {
        *self.shared.routes.write().expect("route table lock") = routes;
    }

    /// Requests copied to each mirror model so far.
    pub fn mirrored(&self) -> BTreeMap<String, u64> {
        self.shared
            .mirrored
            .lock()
            .expect("mirror counter lock")
            .clone()
    }

    /// Replaces, at once, the set of pipelines Ready in the namespace.
    pub fn set_pipelines(&self, pipelines: Vec<ServedPipeline>) {
        let map = pipelines.into_iter().map(|p| (p.name.clone(), p)).collect();
        *self.shared.pipelines.write().expect("pipeline table lock") = map;
    }

    /// Names of the models currently served.
    pub fn model_names(&self) -> Vec<String> {
        self.shared
            .models
            .read()
            .expect("model table lock")
            .keys()
            .cloned()
            .collect()
    }

    /// Stops serving: in-flight requests get up to 5 s, then the server is cut.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Dropping cannot wait; abort so the port is released promptly.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests;
