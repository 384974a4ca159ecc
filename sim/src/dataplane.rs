//! Per-namespace inference endpoint speaking Open Inference Protocol V2 over REST and gRPC.
