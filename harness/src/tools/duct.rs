//! The real runner: commands as processes with duct, killed at their timeout.

use std::time::{Duration, Instant};

use std::io;

use super::command::{Command, Output, Runner, ToolError, stderr_tail};

/// Runs commands as real processes with duct.
#[derive(Clone, Copy, Debug, Default)]
pub struct DuctRunner;

/// How long to wait for output after killing a timed-out process (grandchildren may hold its pipes).
const AFTER_KILL_GRACE: Duration = Duration::from_secs(5);

impl Runner for DuctRunner {
    fn run(&self, cmd: &Command) -> Result<Output, ToolError> {
        let line = cmd.display();
        tracing::info!(command = %line, timeout_s = cmd.timeout.as_secs(), "running");
        let started = Instant::now();
        let mut expr = duct::cmd(cmd.tool.binary, cmd.real_args())
            .stdout_capture()
            .stderr_capture()
            .unchecked();
        expr = match cmd.stdin_bytes() {
            Some(bytes) => expr.stdin_bytes(bytes.to_vec()),
            None => expr.stdin_null(),
        };
        let handle = expr.start().map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                ToolError::Missing {
                    tool: cmd.tool.binary,
                    hint: cmd.tool.install_hint,
                }
            } else {
                ToolError::Spawn {
                    command: line.clone(),
                    source: e,
                }
            }
        })?;
        let waited = handle
            .wait_timeout(cmd.timeout)
            .map_err(|e| ToolError::Spawn {
                command: line.clone(),
                source: e,
            })?;
        let Some(out) = waited else {
            let _ = handle.kill();
            let stderr = match handle.wait_timeout(AFTER_KILL_GRACE) {
                Ok(Some(out)) => String::from_utf8_lossy(&out.stderr).into_owned(),
                _ => String::new(),
            };
            tracing::warn!(command = %line, "timed out; killed");
            return Err(ToolError::TimedOut {
                command: line,
                after: cmd.timeout,
                stderr_tail: stderr_tail(cmd, &stderr),
            });
        };
        let output = Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        tracing::debug!(
            command = %line,
            code = ?output.code,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "finished"
        );
        Ok(output)
    }
}
