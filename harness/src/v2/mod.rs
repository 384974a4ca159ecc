//! Open Inference Protocol (V2) clients over REST and gRPC, and numeric comparison of outputs.
//!
//! Every call sends the `seldon-model` header (gRPC metadata), because Seldon's envoy routes
//! on it and gRPC requests without it have no route. Against a bare V2 server (MLServer,
//! Triton) the header is simply ignored.

pub mod client;
mod compare;
mod negative;
pub mod routed;
pub mod samples;
pub mod traffic;

pub use client::*;
pub use compare::{Difference, Mismatch, Tolerance, compare_outputs};
pub use negative::{BadRequest, NegativeVerdict, bad_request, negative_case, valid_request};
pub use samples::{
    ExpectedArgmax, Sample, SampleError, SampleFailure, SampleSet, check_samples, check_signature,
};
