//! NetworkPolicy evaluation with Kubernetes semantics, and connectivity probe outcomes.
