//! Verdicts and reports: terminal summary, Markdown, and redaction of secret values.
