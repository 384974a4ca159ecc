//! Embedded simulated platform.
