//! Conformance harness library.
