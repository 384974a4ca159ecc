//! Real parts of the model-storage path for `storage_path`: an S3 API server (moto, through
//! `ci/s3-server.py`), `rclone rcd` as Seldon's Server pods run it, and a driver that calls
//! rclone's RC API the way Seldon's agent does (`agent`).

pub mod agent;

use crate::mlserver_support::{die_with_parent, free_port, stop_group};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a part may take to start on a busy 2-core runner.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// The python of the venv `ci/storage-venv.sh` makes, or why it is not usable.
pub fn locate_storage_python() -> Result<PathBuf, String> {
    let hint = "run ci/storage-venv.sh and export HARNESS_STORAGE_PYTHON=<its output>";
    if let Some(p) = std::env::var_os("HARNESS_STORAGE_PYTHON").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "HARNESS_STORAGE_PYTHON={} is not a file; {hint}",
                p.display()
            ))
        };
    }
    let Some(home) = std::env::var_os("HOME") else {
        return Err(format!(
            "S3 server not found: HARNESS_STORAGE_PYTHON and HOME are unset; {hint}"
        ));
    };
    let p = PathBuf::from(home).join(".cache/seldon-harness/storage-moto-5.2.5/bin/python");
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "S3 server not found: HARNESS_STORAGE_PYTHON is unset and {} does not exist; {hint}",
            p.display()
        ))
    }
}

/// The `rclone` binary (`HARNESS_RCLONE`, else on PATH), or why it is not usable.
pub fn locate_rclone() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("HARNESS_RCLONE").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "HARNESS_RCLONE={} is not a file; point it at an rclone binary",
                p.display()
            ))
        };
    }
    find_on_path("rclone").ok_or_else(|| {
        "rclone not found on PATH; install it (`apt-get install -y rclone`, Debian ships 1.60) \
             or set HARNESS_RCLONE"
            .to_string()
    })
}

/// `name` in a folder of PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Reads one line from a child's stdout within the deadline.
fn read_line_within(out: std::process::ChildStdout, deadline: Duration) -> Result<String, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let r = BufReader::new(out).read_line(&mut line).map(|_| line);
        let _ = tx.send(r);
    });
    match rx.recv_timeout(deadline) {
        Ok(Ok(line)) => Ok(line),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {deadline:?}")),
    }
}

/// A running S3 API server on 127.0.0.1 (moto with authentication on), seeded by `spec`
/// (see `ci/s3-server.py`); stopped on drop.
pub struct S3Server {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
    log: PathBuf,
}

impl S3Server {
    /// Starts the server and waits until it listens. `spec` holds credentials: it goes over stdin.
    pub fn start(
        python: &Path,
        script: &Path,
        spec: &serde_json::Value,
        log: &Path,
    ) -> Result<S3Server, String> {
        let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut cmd = Command::new(python);
        cmd.arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file);
        for (key, _) in std::env::vars_os() {
            // The server's behaviour must not depend on the caller's AWS or moto settings.
            let k = key.to_string_lossy();
            if k.starts_with("AWS_") || k.starts_with("MOTO_") {
                cmd.env_remove(&key);
            }
        }
        die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let out = child.stdout.take().expect("piped stdout");
        let mut server = S3Server {
            child,
            stdin: None,
            port: 0,
            log: log.to_path_buf(),
        };
        writeln!(stdin, "{spec}").map_err(|e| format!("S3 server stdin: {e}"))?;
        server.stdin = Some(stdin);
        let line = read_line_within(out, START_DEADLINE)
            .map_err(|e| format!("S3 server did not start: {e}; log:\n{}", server.log_tail()))?;
        server.port = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| {
                format!(
                    "S3 server printed {line:?} instead of `READY <port>`; log:\n{}",
                    server.log_tail()
                )
            })?;
        Ok(server)
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        drop(self.stdin.take()); // EOF: the server stops by itself
        stop_group(&mut self.child);
    }
}

/// An rclone RC reply: HTTP status and JSON body.
#[derive(Debug, Clone)]
pub struct RcReply {
    /// HTTP status.
    pub status: u16,
    /// The JSON body (`{}` when empty). Error bodies echo the input, secrets included.
    pub body: serde_json::Value,
}

impl RcReply {
    /// rclone's `error` field, if any.
    pub fn error(&self) -> Option<&str> {
        self.body["error"].as_str()
    }
}

/// `rclone rcd` as the ServerConfig `mlserver` runs it (`rcd --rc-no-auth --config=… --rc-addr=…`),
/// on loopback with a fresh config file and environment; stopped on drop.
pub struct Rclone {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Rclone {
    /// Starts `rclone rcd` and waits for `rc/noop` (the agent's readiness call).
    pub fn start(bin: &Path, rt: &tokio::runtime::Runtime) -> Result<Rclone, String> {
        match Self::start_once(bin, rt) {
            Err(e) if e.contains("address already in use") => Self::start_once(bin, rt),
            other => other,
        }
    }

    fn start_once(bin: &Path, rt: &tokio::runtime::Runtime) -> Result<Rclone, String> {
        let dir = tempfile::Builder::new()
            .prefix("harness-rclone-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let port = free_port()?;
        let log = std::fs::File::create(dir.path().join("rclone.log"))
            .map_err(|e| format!("rclone log: {e}"))?;
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(bin);
        cmd.arg("rcd")
            .arg("--rc-no-auth")
            .arg(format!(
                "--config={}",
                dir.path().join("rclone.conf").display()
            ))
            .arg(format!("--rc-addr=127.0.0.1:{port}"))
            // Seldon's image also passes --max-buffer-memory (rclone >= 1.69); 1.60 lacks it.
            // A clean environment: AWS_* or RCLONE_* of the caller would change what rclone does
            // (AWS_CA_BUNDLE alone breaks the S3 backend), and Seldon's container has none.
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", dir.path())
            .env("RCLONE_LOG_LEVEL", "INFO")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        let mut rc = Rclone {
            child,
            port,
            dir,
            http,
        };
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(Some(status)) = rc.child.try_wait() {
                return Err(format!("rclone rcd exited ({status}); log:\n{}", rc.log()));
            }
            let noop = rt.block_on(rc.call("rc/noop", &serde_json::json!({"foo": "bar"})));
            if matches!(noop, Ok(ref r) if r.status == 200) {
                return Ok(rc);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "rclone rcd not answering rc/noop within {START_DEADLINE:?} ({noop:?}); log:\n{}",
                    rc.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// POSTs a JSON body to an RC path, as the agent's `call` does.
    pub async fn call(&self, path: &str, body: &serde_json::Value) -> Result<RcReply, String> {
        let url = format!("http://127.0.0.1:{}/{path}", self.port);
        let resp = self
            .http
            .post(&url)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("failed making http post to {url}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        let body = if text.trim().is_empty() {
            serde_json::json!({})
        } else {
            serde_json::from_str(&text).map_err(|e| format!("{path}: answer is not JSON ({e})"))?
        };
        Ok(RcReply { status, body })
    }

    /// A folder for the agent's copies (`/mnt/agent/rclone` in a Server pod).
    pub fn local_path(&self) -> PathBuf {
        self.dir.path().join("agent/rclone")
    }

    /// rclone's log (holds no secret values unless a connection string failed: callers redact).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rclone.log")).unwrap_or_default()
    }
}

impl Drop for Rclone {
    fn drop(&mut self) {
        stop_group(&mut self.child);
    }
}

/// Every file under `dir` (relative paths, sorted), skipping Python caches.
pub fn files_under(dir: &Path) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
            let e = e.map_err(|e| e.to_string())?;
            let p = e.path();
            if e.file_name() == "__pycache__" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).map_err(|e| e.to_string())?;
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    Ok(out)
}
