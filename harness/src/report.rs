//! Verdicts and reports: terminal summary, Markdown, and redaction of secret values.

/// Sets up `tracing` output on stderr, filtered by `RUST_LOG` (default: `info` for the harness, `warn` elsewhere).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,harness=info"));
    // A second init (tests) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
