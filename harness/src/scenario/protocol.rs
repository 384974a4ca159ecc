//! The V2 protocols a check speaks (a leaf, so `format` and `continuity` share it).

use serde::{Deserialize, Serialize};

/// The V2 protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP/JSON.
    Rest,
    /// gRPC.
    Grpc,
}
