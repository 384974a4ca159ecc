//! Commands and their outcome: arguments with secret parts redacted everywhere but the process,
//! timeouts, captured output, errors that say what to do, and the [`Runner`] seam.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::tool::{Tool, parse_version};
use crate::names::Version;

/// One command-line argument; a secret one is shown as `<redacted>` everywhere except the process.
#[derive(Clone)]
pub enum Arg {
    /// Shown as is.
    Plain(String),
    /// `shown` followed by a hidden part, e.g. `key=` + the secret value of `--set-string key=value`.
    Secret {
        /// The visible prefix.
        shown: String,
        /// The secret part; never displayed.
        hidden: String,
    },
}

impl fmt::Debug for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

impl Arg {
    fn real(&self) -> String {
        match self {
            Arg::Plain(s) => s.clone(),
            Arg::Secret { shown, hidden } => format!("{shown}{hidden}"),
        }
    }

    fn display(&self) -> String {
        match self {
            Arg::Plain(s) => shell_quote(s),
            Arg::Secret { shown, .. } => format!("{}<redacted>", shell_quote(shown)),
        }
    }
}

/// Bytes fed to a command's stdin, described (not shown) in logs because they may hold secrets.
#[derive(Clone)]
pub struct Stdin {
    bytes: Vec<u8>,
    description: String,
}

/// A command to run: a tool, its arguments, a timeout and optional stdin.
#[derive(Clone)]
pub struct Command {
    pub(super) tool: Tool,
    pub(super) args: Vec<Arg>,
    pub(super) timeout: Duration,
    pub(super) stdin: Option<Stdin>,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

impl Command {
    /// A command for `tool` with no arguments and the tool's default timeout.
    pub fn new(tool: &Tool) -> Self {
        Self {
            tool: *tool,
            args: Vec::new(),
            timeout: tool.default_timeout,
            stdin: None,
        }
    }

    /// Appends a plain argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(Arg::Plain(arg.into()));
        self
    }

    /// Appends plain arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args
            .extend(args.into_iter().map(|a| Arg::Plain(a.into())));
        self
    }

    /// Appends an argument made of a visible prefix and a secret suffix (e.g. `key=` and a password).
    pub fn secret_arg(mut self, shown: impl Into<String>, hidden: impl Into<String>) -> Self {
        self.args.push(Arg::Secret {
            shown: shown.into(),
            hidden: hidden.into(),
        });
        self
    }

    /// Sets the timeout after which the command is killed.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Feeds `bytes` to stdin; `description` stands for them in logs and transcripts.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>, description: impl Into<String>) -> Self {
        self.stdin = Some(Stdin {
            bytes: bytes.into(),
            description: description.into(),
        });
        self
    }

    /// The tool this command runs.
    pub fn tool(&self) -> &Tool {
        &self.tool
    }

    /// The timeout.
    pub fn get_timeout(&self) -> Duration {
        self.timeout
    }

    /// The stdin bytes, if any. They may hold secrets: never log them.
    pub fn stdin_bytes(&self) -> Option<&[u8]> {
        self.stdin.as_ref().map(|s| s.bytes.as_slice())
    }

    /// The real arguments, secrets included: only for handing to the process, never for logging.
    pub fn real_args(&self) -> Vec<String> {
        self.args.iter().map(Arg::real).collect()
    }

    /// The command line as shown to people: shell-quoted, secrets redacted, stdin described.
    pub fn display(&self) -> String {
        let mut s = self.tool.binary.to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.display());
        }
        if let Some(stdin) = &self.stdin {
            s.push_str(" < ");
            s.push_str(&stdin.description);
        }
        s
    }

    /// Replaces every secret value of this command found in `text` (e.g. echoed in stderr).
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for a in &self.args {
            if let Arg::Secret { hidden, .. } = a
                && !hidden.is_empty()
            {
                out = out.replace(hidden.as_str(), "<redacted>");
            }
        }
        out
    }
}

/// Single-quotes an argument for display when it holds shell-special characters.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | ',' | '@' | '+')
        });
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What a finished command produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    /// Captured stdout (lossy UTF-8).
    pub stdout: String,
    /// Captured stderr (lossy UTF-8).
    pub stderr: String,
}

impl Output {
    /// Exit 0 with this stdout.
    pub fn ok(stdout: impl Into<String>) -> Self {
        Self {
            code: Some(0),
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    /// Exit 0 with this stderr (kind prints informational messages there).
    pub fn ok_stderr(stderr: impl Into<String>) -> Self {
        Self {
            code: Some(0),
            stdout: String::new(),
            stderr: stderr.into(),
        }
    }

    /// A failure with this exit code and stderr.
    pub fn failed(code: i32, stderr: impl Into<String>) -> Self {
        Self {
            code: Some(code),
            stdout: String::new(),
            stderr: stderr.into(),
        }
    }

    /// Whether the command exited with 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Why running a command failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The binary is not on PATH.
    #[error("`{tool}` was not found on PATH. {hint}")]
    Missing {
        /// Binary name.
        tool: &'static str,
        /// Where to get it.
        hint: &'static str,
    },
    /// The process could not be started for another reason.
    #[error("could not start `{command}`: {source}")]
    Spawn {
        /// Redacted command line.
        command: String,
        /// The OS error.
        source: io::Error,
    },
    /// The command ran longer than its timeout and was killed.
    #[error("`{command}` did not finish within {}s and was killed. Last stderr lines:\n{stderr_tail}", .after.as_secs())]
    TimedOut {
        /// Redacted command line.
        command: String,
        /// The timeout.
        after: Duration,
        /// Redacted tail of stderr (may be empty).
        stderr_tail: String,
    },
    /// The command exited non-zero.
    #[error("`{command}` failed with exit code {}. Last stderr lines:\n{stderr_tail}", .code.map_or_else(|| "none (killed by a signal)".to_string(), |c| c.to_string()))]
    Failed {
        /// Redacted command line.
        command: String,
        /// Exit code, `None` if killed by a signal.
        code: Option<i32>,
        /// Redacted tail of stderr.
        stderr_tail: String,
    },
    /// The tool is older than the harness supports.
    #[error("{tool} {found} is too old: the harness needs {min} or newer because {reason}. {hint}")]
    TooOld {
        /// Binary name.
        tool: &'static str,
        /// Version found.
        found: Version,
        /// Minimum version.
        min: Version,
        /// Why.
        reason: &'static str,
        /// Where to get a newer one.
        hint: &'static str,
    },
    /// The tool is installed but its version check failed (e.g. the Docker daemon is down).
    #[error("`{command}` failed, so {tool} cannot be used:\n{stderr_tail}\n{hint}")]
    Unusable {
        /// Binary name.
        tool: &'static str,
        /// Redacted command line.
        command: String,
        /// Redacted tail of stderr.
        stderr_tail: String,
        /// What to do.
        hint: &'static str,
    },
    /// The version command printed something unexpected.
    #[error("could not read a version from the output of `{command}`: {output:?}")]
    UnknownVersion {
        /// Redacted command line.
        command: String,
        /// The (short) output.
        output: String,
    },
    /// The blocking task running the command was lost (panic or runtime shutdown).
    #[error("the task running `{command}` did not complete: {reason}")]
    Lost {
        /// Redacted command line.
        command: String,
        /// The join error.
        reason: String,
    },
}

/// Runs commands. The real implementation is [`DuctRunner`]; tests use `RecordingRunner`
/// (feature `testing`).
pub trait Runner: Send + Sync {
    /// Runs `cmd` to completion or its timeout. A non-zero exit is NOT an error here: it is returned
    /// in [`Output::code`] so callers can parse the tool's error text; use [`check`] to turn it into one.
    fn run(&self, cmd: &Command) -> Result<Output, ToolError>;
}

/// A shareable runner.
pub type SharedRunner = Arc<dyn Runner>;

/// How many stderr lines/characters error messages keep.
const TAIL_LINES: usize = 20;
const TAIL_CHARS: usize = 4000;

/// The last lines of `text`, bounded, with the command's secrets redacted.
pub fn stderr_tail(cmd: &Command, text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(TAIL_LINES);
    let mut tail = lines[start..].join("\n");
    if tail.len() > TAIL_CHARS {
        let mut cut = tail.len() - TAIL_CHARS;
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        tail = format!("…{}", &tail[cut..]);
    }
    let tail = cmd.redact(&strip_ansi(&tail));
    if tail.is_empty() {
        "(stderr was empty)".to_string()
    } else {
        tail
    }
}

/// Removes ANSI colour sequences (kind colours `ERROR` when it believes it writes to a terminal).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for n in chars.by_ref() {
                if n.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Turns a non-zero exit into [`ToolError::Failed`].
pub fn check(cmd: &Command, out: Output) -> Result<Output, ToolError> {
    if out.success() {
        Ok(out)
    } else {
        Err(ToolError::Failed {
            command: cmd.display(),
            code: out.code,
            stderr_tail: stderr_tail(cmd, &out.stderr),
        })
    }
}

/// Runs `cmd` on a blocking thread (safe on any tokio runtime); non-zero exits are returned, not errors.
pub async fn run(runner: &SharedRunner, cmd: Command) -> Result<Output, ToolError> {
    let runner = Arc::clone(runner);
    let line = cmd.display();
    tokio::task::spawn_blocking(move || runner.run(&cmd))
        .await
        .map_err(|e| ToolError::Lost {
            command: line,
            reason: e.to_string(),
        })?
}

/// Runs `cmd` and fails on a non-zero exit.
pub async fn run_ok(runner: &SharedRunner, cmd: Command) -> Result<Output, ToolError> {
    let out = run(runner, cmd.clone()).await?;
    check(&cmd, out)
}

/// Checks that `tool` is installed and recent enough; returns its version.
pub async fn ensure_tool(runner: &SharedRunner, tool: &Tool) -> Result<Version, ToolError> {
    let cmd = Command::new(tool)
        .args(tool.version_args.iter().copied())
        .timeout(Duration::from_secs(30));
    let out = run_ok(runner, cmd.clone()).await.map_err(|e| match e {
        ToolError::Failed {
            command,
            stderr_tail,
            ..
        } => ToolError::Unusable {
            tool: tool.binary,
            command,
            stderr_tail,
            hint: tool.install_hint,
        },
        other => other,
    })?;
    let found = parse_version(tool.version_format, &out.stdout).ok_or_else(|| {
        ToolError::UnknownVersion {
            command: cmd.display(),
            output: out.stdout.chars().take(200).collect(),
        }
    })?;
    if found < tool.min_version {
        return Err(ToolError::TooOld {
            tool: tool.binary,
            found,
            min: tool.min_version,
            reason: tool.min_reason,
            hint: tool.install_hint,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::{HELM, KIND, VersionFormat};

    #[test]
    fn versions_parse_from_each_tools_output() {
        let f = VersionFormat::FirstSemverToken;
        assert_eq!(
            parse_version(f, "kind v0.30.0 go1.24.6 linux/amd64\n"),
            Some(Version::new(0, 30, 0))
        );
        assert_eq!(
            parse_version(f, "v3.18.6+gb76a950\n"),
            Some(Version::new(3, 18, 6))
        );
        assert_eq!(parse_version(f, "27.3.1\n"), Some(Version::new(27, 3, 1)));
        assert_eq!(parse_version(f, "no version here"), None);
        let kubectl = r#"{"clientVersion":{"gitVersion":"v1.33.4"},"kustomizeVersion":"v5.6.0"}"#;
        assert_eq!(
            parse_version(VersionFormat::KubectlJson, kubectl),
            Some(Version::new(1, 33, 4))
        );
        assert!(Version::new(0, 23, 0) < KIND.min_version);
    }

    #[test]
    fn secret_arguments_never_show() {
        let cmd = Command::new(&HELM)
            .args(["upgrade", "--set-string"])
            .secret_arg("kafka.password=", "hunter2 it's")
            .arg("two words");
        assert_eq!(
            cmd.display(),
            "helm upgrade --set-string kafka.password=<redacted> 'two words'"
        );
        assert_eq!(cmd.real_args()[2], "kafka.password=hunter2 it's");
        assert_eq!(
            cmd.redact("echoed hunter2 it's back"),
            "echoed <redacted> back"
        );
        let err = check(&cmd, Output::failed(1, "Error: bad value hunter2 it's\n")).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("exit code 1"), "{err}");
    }

    #[test]
    fn stderr_tail_keeps_the_last_lines_without_colours() {
        let cmd = Command::new(&KIND);
        let many: String = (0..50).map(|i| format!("line {i}\n")).collect();
        let tail = stderr_tail(&cmd, &many);
        assert!(tail.starts_with("line 30"), "{tail}");
        assert!(tail.ends_with("line 49"), "{tail}");
        assert_eq!(strip_ansi("\u{1b}[31mERROR\u{1b}[0m: boom"), "ERROR: boom");
    }
}
