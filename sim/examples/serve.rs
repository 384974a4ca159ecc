//! Runs the embedded platform standalone until Ctrl-C, for poking at it with kubectl.
//!
//! `cargo run -p sim --example serve -- /tmp/embedded.kubeconfig [--install]`

use std::path::PathBuf;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "embedded-platform.kubeconfig".into()),
    );
    let platform = sim::Platform::start(sim::faults::Faults::default())?;
    if args.any(|a| a == "--install") {
        platform.install_seldon(&sim::seldon::InstallOptions {
            clusterwide: true,
            controller_namespace: "seldon-system".into(),
            watch_namespaces: vec![],
            ..Default::default()
        })?;
        platform.install_kind_storage()?;
    }
    platform.serve_until_interrupted(&path).await
}
