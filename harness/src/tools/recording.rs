//! A scripted command runner for golden tests (feature `testing`): records redacted command
//! lines and answers with scripted outputs, so no tool runs.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Mutex;

use super::command::{Command, Output, Runner, ToolError};

/// A runner that records redacted command lines and returns scripted outputs, for golden tests.
///
/// Responses are matched by the longest prefix of the redacted command line and consumed in
/// order; the last response for a prefix is reused once the others are used up. Commands
/// without a response succeed with empty output.
#[derive(Default)]
pub struct RecordingRunner {
    transcript: Mutex<Vec<String>>,
    script: Mutex<Vec<(String, VecDeque<Output>)>>,
    missing: Mutex<BTreeSet<String>>,
}

impl RecordingRunner {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scripts the next output for commands whose redacted line starts with `prefix`.
    pub fn respond(&self, prefix: &str, output: Output) -> &Self {
        let mut script = self.script.lock().expect("script lock");
        match script.iter_mut().find(|(p, _)| p == prefix) {
            Some((_, q)) => q.push_back(output),
            None => script.push((prefix.to_string(), VecDeque::from([output]))),
        }
        self
    }

    /// Replaces every scripted output for `prefix` with `output`.
    pub fn replace(&self, prefix: &str, output: Output) -> &Self {
        self.script
            .lock()
            .expect("script lock")
            .retain(|(p, _)| p != prefix);
        self.respond(prefix, output)
    }

    /// Makes `binary` behave as if it were not installed.
    pub fn missing_tool(&self, binary: &str) -> &Self {
        self.missing
            .lock()
            .expect("missing lock")
            .insert(binary.to_string());
        self
    }

    /// Adds a non-command step (e.g. a wait) to the transcript.
    pub fn note(&self, line: impl Into<String>) {
        self.transcript
            .lock()
            .expect("transcript lock")
            .push(format!("# {}", line.into()));
    }

    /// Every recorded line, one per command or note.
    pub fn transcript(&self) -> Vec<String> {
        self.transcript.lock().expect("transcript lock").clone()
    }

    /// Forgets the transcript (the script is kept).
    pub fn clear_transcript(&self) {
        self.transcript.lock().expect("transcript lock").clear();
    }
}

impl Runner for RecordingRunner {
    fn run(&self, cmd: &Command) -> Result<Output, ToolError> {
        let line = cmd.display();
        self.transcript
            .lock()
            .expect("transcript lock")
            .push(line.clone());
        if self
            .missing
            .lock()
            .expect("missing lock")
            .contains(cmd.tool.binary)
        {
            return Err(ToolError::Missing {
                tool: cmd.tool.binary,
                hint: cmd.tool.install_hint,
            });
        }
        let mut script = self.script.lock().expect("script lock");
        let best = script
            .iter_mut()
            .filter(|(p, _)| line.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len());
        Ok(match best {
            Some((_, q)) if q.len() > 1 => q.pop_front().expect("non-empty"),
            Some((_, q)) => q.front().cloned().unwrap_or_else(|| Output::ok("")),
            None => Output::ok(""),
        })
    }
}
