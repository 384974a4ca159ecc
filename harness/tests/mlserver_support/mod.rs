//! A real MLServer for the test tiers that need one (`mlserver_conformance`, `storage_path`):
//! where it is, and a running server in its own process group that is killed on drop.
//!
//! MLServer comes from `HARNESS_MLSERVER` (path of the `mlserver` binary, as printed by
//! `ci/mlserver-venv.sh`) or the script's default venv.

use harness::v2::InferenceClient;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Cold Python imports on a busy 2-core CI runner can take a while.
pub const READY_DEADLINE: Duration = Duration::from_secs(90);

/// Where MLServer is, or why it is not usable.
pub fn locate_mlserver() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("HARNESS_MLSERVER").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "HARNESS_MLSERVER={} is not a file; point it at the `mlserver` binary printed by ci/mlserver-venv.sh",
                p.display()
            ))
        };
    }
    let venv = match std::env::var_os("HARNESS_MLSERVER_VENV").filter(|p| !p.is_empty()) {
        Some(v) => PathBuf::from(v),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".cache/seldon-harness/mlserver-1.7.1"),
            None => return Err("MLServer not found: HARNESS_MLSERVER and HOME are unset; run ci/mlserver-venv.sh and export HARNESS_MLSERVER=<its output>".into()),
        },
    };
    let bin = venv.join("bin/mlserver");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "MLServer not found: HARNESS_MLSERVER is unset and {} does not exist; run ci/mlserver-venv.sh and export HARNESS_MLSERVER=<its output>",
            bin.display()
        ))
    }
}

/// Makes the kernel kill `cmd`'s process when the test process dies without running destructors
/// (e.g. SIGKILL from a test-runner timeout), and puts it in its own process group.
#[allow(unsafe_code)]
pub fn die_with_parent(cmd: &mut Command) {
    cmd.process_group(0);
    // SAFETY: prctl is async-signal-safe; it only sets the parent-death signal of the child.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Stops a child started with [`die_with_parent`]: SIGTERM to its group, SIGKILL after 10 s.
#[allow(unsafe_code)]
pub fn stop_group(child: &mut Child) {
    let pgid = child.id() as libc::pid_t;
    // SAFETY: plain syscall; signals only the group this test created (pgid = child's pid).
    unsafe { libc::kill(-pgid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            // The group may still hold stragglers (worker processes); make sure they go too.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = child.wait();
}

/// A free loopback port (it can be taken before it is bound: callers retry once).
pub fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// A running MLServer in its own process group, serving a model repository folder.
pub struct MlServer {
    child: Child,
    log: PathBuf,
    http_port: u16,
    grpc_port: u16,
}

impl MlServer {
    /// The REST base URL.
    pub fn rest_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The gRPC address.
    pub fn grpc_addr(&self) -> String {
        format!("127.0.0.1:{}", self.grpc_port)
    }

    /// The last lines of MLServer's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Starts MLServer on `repo` (its log goes to `log`) and waits until every model in `models`
    /// is ready over REST and gRPC is serving.
    pub fn start(
        bin: &Path,
        rt: &tokio::runtime::Runtime,
        repo: &Path,
        log: &Path,
        models: &[&str],
    ) -> Result<MlServer, String> {
        // A free port can be taken between probing and binding; one retry covers that race.
        match Self::start_once(bin, rt, repo, log, models) {
            Err(e) if e.contains("address already in use") => {
                Self::start_once(bin, rt, repo, log, models)
            }
            other => other,
        }
    }

    fn start_once(
        bin: &Path,
        rt: &tokio::runtime::Runtime,
        repo: &Path,
        log_path: &Path,
        models: &[&str],
    ) -> Result<MlServer, String> {
        let (http_port, grpc_port) = (free_port()?, free_port()?);
        let log = File::create(log_path).map_err(|e| format!("log file: {e}"))?;
        let log_err = log.try_clone().map_err(|e| format!("log file: {e}"))?;
        let mut cmd = Command::new(bin);
        cmd.arg("start").arg(repo).current_dir(repo);
        for (key, _) in std::env::vars_os() {
            // Inherited MLSERVER_* settings would change what is being tested.
            if key.to_string_lossy().starts_with("MLSERVER_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("MLSERVER_HOST", "127.0.0.1")
            .env("MLSERVER_HTTP_PORT", http_port.to_string())
            .env("MLSERVER_GRPC_PORT", grpc_port.to_string())
            // Empty endpoint = no metrics server (and no third port to collide on).
            .env("MLSERVER_METRICS_ENDPOINT", "")
            // The worker pool crashes with uvloop >= 0.22; in-process inference is enough here.
            .env("MLSERVER_PARALLEL_WORKERS", "0")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut server = MlServer {
            child,
            log: log_path.to_path_buf(),
            http_port,
            grpc_port,
        };
        rt.block_on(server.wait_ready(models))?;
        Ok(server)
    }

    async fn wait_ready(&mut self, models: &[&str]) -> Result<(), String> {
        let rest = InferenceClient::rest(&self.rest_url())
            .map_err(|e| e.to_string())?
            .with_timeout(Duration::from_secs(2));
        let grpc = InferenceClient::grpc(&self.grpc_addr())
            .map_err(|e| e.to_string())?
            .with_timeout(Duration::from_secs(2));
        let deadline = Instant::now() + READY_DEADLINE;
        let mut last;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "MLServer exited ({status}) before becoming ready; log tail:\n{}",
                    self.log_tail()
                ));
            }
            let probe = async {
                for model in models {
                    if !rest.model_ready(model).await.map_err(|e| e.to_string())? {
                        return Err(format!("model {model} not ready yet"));
                    }
                }
                let first = models.first().copied().unwrap_or_default();
                match grpc.server_ready(first).await.map_err(|e| e.to_string())? {
                    true => Ok(()),
                    false => Err("gRPC server not ready yet".to_string()),
                }
            };
            match probe.await {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "MLServer not ready within {READY_DEADLINE:?}; last probe: {last}; log tail:\n{}",
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for MlServer {
    fn drop(&mut self) {
        stop_group(&mut self.child);
    }
}
