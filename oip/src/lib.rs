//! Open Inference Protocol (V2).
