//! Open Inference Protocol (V2): gRPC types and services, REST JSON types, and one tensor model
//! shared by clients (the harness) and servers (the simulated platform).

pub mod rest;
pub mod tensor;

/// Code generated from `proto/grpc_predict_v2.proto` (package `inference`): messages, the
/// `GRPCInferenceService` client and server.
#[allow(missing_docs, clippy::all)]
pub mod grpc {
    tonic::include_proto!("inference");
}

pub use tensor::{NamedTensor, TensorData, TensorError};
