//! Embedded simulated platform: a loopback Kubernetes API subset that models documented
//! Kubernetes and Seldon Core v2 behaviour, with fault injection. A test double for the harness.
//!
//! [`Platform::start`] runs everything on its own small Tokio runtime, so callers that block
//! (running `kubectl` synchronously, a current-thread test runtime) never starve the server.

pub mod admission;
pub mod api;
pub mod artifact;
pub mod control;
pub mod controllers;
pub mod dataplane;
pub mod decision;
pub mod faults;
pub mod model_store;
pub mod names;
pub mod network;
pub mod rbac;
pub mod reconcile;
pub mod sealed;
pub mod seldon;
pub mod store;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio::task::JoinHandle;

use crate::api::ApiServer;
use crate::control::PlatformState;
use crate::faults::Faults;
use crate::seldon::InstallOptions;
use crate::store::Store;

/// The name of the kubeconfig cluster and context.
pub const KUBECONFIG_CONTEXT: &str = "embedded-platform";
/// The name of the kubeconfig user (authenticated as `system:admin` in `system:masters`).
pub const KUBECONFIG_USER: &str = "embedded-platform-admin";

/// How long a deleted namespace keeps its contents before the namespace controller empties it.
const NAMESPACE_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

/// A running platform. Dropping it stops the API server, the controllers and every open stream.
pub struct Platform {
    addr: SocketAddr,
    store: Store,
    faults: Faults,
    state: Arc<PlatformState>,
    requests: crate::api::requests::RequestCounts,
    tasks: Vec<JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("url", &self.url())
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

impl Platform {
    /// Binds 127.0.0.1 on a free port, creates the system namespaces and starts the API server and
    /// the controllers. Callable from sync code and from inside any Tokio runtime.
    pub fn start(faults: Faults) -> anyhow::Result<Platform> {
        Platform::start_inner(faults, true)
    }

    /// The API server and store with admission but without controllers: nothing reacts to
    /// objects, so API-layer tests control every change themselves.
    pub fn start_api_only(faults: Faults) -> anyhow::Result<Platform> {
        Platform::start_inner(faults, false)
    }

    fn start_inner(faults: Faults, with_controllers: bool) -> anyhow::Result<Platform> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .context("binding the platform API server to 127.0.0.1")?;
        listener
            .set_nonblocking(true)
            .context("making the API listener non-blocking")?;
        let addr = listener
            .local_addr()
            .context("reading the API server's address")?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("embedded-platform")
            .enable_all()
            .build()
            .context("starting the platform's runtime")?;
        let store = Store::new(admission::chain(&faults));
        store::bootstrap::bootstrap(&store)
            .map_err(|e| anyhow::anyhow!("creating the system namespaces failed: {e}"))?;
        let state = Arc::new(PlatformState::default());
        let mut tasks = Vec::new();
        let requests;
        {
            let _guard = runtime.enter();
            let listener = tokio::net::TcpListener::from_std(listener)
                .context("registering the API listener")?;
            let server = Arc::new(ApiServer::new(
                store.clone(),
                faults.clone(),
                addr.to_string(),
                state.clone(),
            ));
            requests = server.requests();
            tasks.push(tokio::spawn(server.serve(listener)));
            tasks.push(tokio::spawn(
                store.clone().run_namespace_controller(NAMESPACE_GRACE),
            ));
            if with_controllers {
                tasks.extend(reconcile::spawn(
                    store.clone(),
                    faults.clone(),
                    state.clone(),
                ));
            }
        }
        Ok(Platform {
            addr,
            store,
            faults,
            state,
            requests,
            tasks,
            runtime: Some(runtime),
        })
    }

    /// The API server's URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The API server's socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The faults this platform was started with.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// A kubeconfig for kubectl and kube-rs: cluster and context `embedded-platform`, user
    /// `embedded-platform-admin`, namespace `default`. Plain HTTP, no credentials.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {ctx}\n  cluster:\n    server: {url}\nusers:\n- name: {user}\n  user: {{}}\ncontexts:\n- name: {ctx}\n  context:\n    cluster: {ctx}\n    user: {user}\n    namespace: default\ncurrent-context: {ctx}\npreferences: {{}}\n",
            ctx = KUBECONFIG_CONTEXT,
            user = KUBECONFIG_USER,
            url = self.url()
        )
    }

    /// Writes [`Platform::kubeconfig_yaml`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
            .with_context(|| format!("writing the kubeconfig to {}", path.display()))
    }

    /// Installs the simulated inference-platform controller (CRDs, controller, configs).
    pub fn install_seldon(&self, opts: &InstallOptions) -> anyhow::Result<()> {
        let _guard = self.runtime.as_ref().map(|r| r.enter());
        if let seldon::Kafka::External(addr) = &opts.kafka {
            self.state
                .external_addresses
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(addr.clone());
        }
        seldon::install(&self.store, opts)
            .map_err(|e| anyhow::anyhow!("installing the controller failed: {e}"))
    }

    /// The first half of an in-place upgrade (the CRDs chart): the new version's Seldon CRDs;
    /// stored objects stay unvalidated until their next write. Returns the CRDs that changed.
    pub fn upgrade_seldon_crds(&self) -> anyhow::Result<Vec<String>> {
        seldon::upgrade_crds(&self.store, &self.faults)
            .map_err(|e| anyhow::anyhow!("applying the new Seldon CRDs failed: {e}"))
    }

    /// Puts the installed version's Seldon CRDs back (a rollback of the CRDs chart).
    pub fn restore_seldon_crds(&self) -> anyhow::Result<()> {
        seldon::restore_crds(&self.store)
            .map_err(|e| anyhow::anyhow!("putting the Seldon CRDs back failed: {e}"))
    }

    /// The second half of an in-place upgrade (the setup chart): the controller, SeldonConfig
    /// `default` and the ServerConfigs on `version`'s images; the workload controllers roll the
    /// pods. Returns the objects that changed.
    pub fn roll_seldon(
        &self,
        controller_namespace: &str,
        version: &str,
    ) -> anyhow::Result<Vec<String>> {
        seldon::roll_components(&self.store, controller_namespace, version)
            .map_err(|e| anyhow::anyhow!("upgrading the Seldon components failed: {e}"))
    }

    /// Creates StorageClass `standard` as kind ships it (the default class, local-path
    /// provisioner, `WaitForFirstConsumer`), so claims bind once a pod uses them, as on kind.
    /// Without it claims stay Pending, as on a cluster without a default StorageClass.
    pub fn install_kind_storage(&self) -> anyhow::Result<()> {
        controllers::install_default_storage_class(&self.store)
            .map_err(|e| anyhow::anyhow!("creating the default StorageClass failed: {e}"))
    }

    /// Installs the sealed-secrets controller as its Helm chart does under kubeseal's default name
    /// (`kube-system/sealed-secrets-controller`); its key pair is created on first use.
    pub fn install_sealed_secrets(&self) -> anyhow::Result<()> {
        sealed::install(&self.store)
            .map_err(|e| anyhow::anyhow!("installing the sealed-secrets controller failed: {e}"))
    }

    /// The inference endpoint of a namespace whose runtime is ready.
    pub fn mesh_addr(&self, namespace: &str) -> Option<SocketAddr> {
        self.state
            .mesh_addrs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(namespace)
            .copied()
    }

    /// Makes a model directory available under a storage URI (what uploading to a bucket does),
    /// served by the model store `minio.harness-model-store:9000` ([`model_store`]).
    pub fn publish_artifact(&self, storage_uri: &str, dir: &Path) -> anyhow::Result<()> {
        anyhow::ensure!(
            storage_uri.contains("://"),
            "storage URI {storage_uri:?} has no scheme: use the form the Model's spec.storageUri uses, e.g. gs://bucket/model"
        );
        anyhow::ensure!(
            dir.is_dir(),
            "model artifact directory {} does not exist or is not a directory",
            dir.display()
        );
        let dir = dir
            .canonicalize()
            .with_context(|| format!("resolving {}", dir.display()))?;
        model_store::ensure(&self.store)
            .map_err(|e| anyhow::anyhow!("creating the model store's pod and Service: {e}"))?;
        self.state
            .artifacts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(storage_uri.to_string(), dir);
        Ok(())
    }

    /// How long the controllers' reconcile passes were kept from running so far (wall time less
    /// their thread's CPU time; `reconcile::Stall`): time a starved process took from the
    /// platform, which a cluster on machines of its own would not have lost.
    pub fn stalled(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(
            self.state
                .stalled_nanos
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Waits until the controllers finished a reconcile pass that started with the store at
    /// resource version `rv` or later: every change up to `rv` has been acted on once. For tests
    /// whose outcome depends on the order two changes reach the controllers.
    pub async fn reconciled(&self, rv: u64) {
        let mut rx = self.state.reconciled_rv.subscribe();
        // The sender lives as long as the platform's state, which `self` holds.
        let _ = rx.wait_for(|seen| *seen >= rv).await;
    }

    /// API requests served so far, by Kubernetes verb (health checks included, as `discovery`).
    pub fn api_requests(&self) -> std::collections::BTreeMap<String, u64> {
        self.requests.snapshot()
    }

    /// Secures the model store: from now on an S3 rclone remote must carry these keys, as a real
    /// store (MinIO on kind) accepts only its own (docs/seldon-behaviour.md §12).
    pub fn secure_model_store(&self, keys: crate::seldon::StoreKeys) {
        *self
            .state
            .store_keys
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(keys);
    }

    /// The object store, for tests and for setting up state directly.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stops the API server, the controllers and every open stream. Idempotent.
    pub fn shutdown(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        if let Some(rt) = self.runtime.take() {
            // Allowed inside an async context, unlike dropping the runtime.
            rt.shutdown_background();
        }
    }

    /// Standalone mode: writes the kubeconfig, prints how to use it, and serves until Ctrl-C.
    /// The kubeconfig file is removed on exit, because it points at a server that is gone.
    pub async fn serve_until_interrupted(mut self, kubeconfig: &Path) -> anyhow::Result<()> {
        self.write_kubeconfig(kubeconfig)?;
        println!("embedded platform serving at {}", self.url());
        println!("kubeconfig: {}", kubeconfig.display());
        println!("export KUBECONFIG={}", kubeconfig.display());
        println!("press Ctrl-C to stop");
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        self.shutdown();
        std::fs::remove_file(kubeconfig)
            .with_context(|| format!("removing {}", kubeconfig.display()))?;
        Ok(())
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.shutdown();
    }
}
