//! Open Inference Protocol (V2) clients over REST and gRPC, and numeric comparison of outputs.
