//! JSON bodies of the V2 REST API (`/v2/models/{model}/infer`, model metadata, errors).
//!
//! Tensor `data` is kept as a [`serde_json::Value`] because the protocol allows it flat or
//! nested; convert with [`crate::NamedTensor`], which flattens and checks it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Free-form parameters attached to requests, responses and tensors.
pub type Parameters = Map<String, Value>;

/// Body of `POST /v2/models/{model}/infer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferenceRequest {
    /// Request identifier, echoed in the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Request parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
    /// Input tensors.
    pub inputs: Vec<RequestInput>,
    /// Outputs asked for; absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<RequestOutput>>,
}

/// One input tensor of an inference request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestInput {
    /// Tensor name.
    pub name: String,
    /// Tensor shape.
    pub shape: Vec<i64>,
    /// Datatype such as `FP32`, `INT64`, `BYTES`.
    pub datatype: String,
    /// Tensor parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
    /// Elements, flat or nested in row-major order.
    pub data: Value,
}

/// One output asked for in an inference request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestOutput {
    /// Output name.
    pub name: String,
    /// Output parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
}

/// Body of a successful inference response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferenceResponse {
    /// Model that answered (Seldon reports `<model>_<version>`).
    pub model_name: String,
    /// Version of the model that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// Echo of the request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Response parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
    /// Output tensors.
    pub outputs: Vec<ResponseOutput>,
}

/// One output tensor of an inference response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseOutput {
    /// Tensor name.
    pub name: String,
    /// Tensor shape.
    pub shape: Vec<i64>,
    /// Datatype such as `FP32`.
    pub datatype: String,
    /// Tensor parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
    /// Elements, flat or nested in row-major order.
    pub data: Value,
}

/// Body of `GET /v2/models/{model}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataModelResponse {
    /// Model name.
    pub name: String,
    /// Versions available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<String>>,
    /// Serving platform, e.g. `mlserver` or `pytorch_libtorch`.
    #[serde(default)]
    pub platform: String,
    /// Input signature.
    #[serde(default)]
    pub inputs: Vec<MetadataTensor>,
    /// Output signature.
    #[serde(default)]
    pub outputs: Vec<MetadataTensor>,
}

/// Name, datatype and shape of one tensor in a model signature (`-1` = variable dimension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataTensor {
    /// Tensor name.
    pub name: String,
    /// Datatype such as `FP32`.
    pub datatype: String,
    /// Shape; `-1` marks a variable dimension.
    pub shape: Vec<i64>,
}

/// Body of `GET /v2`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataServerResponse {
    /// Server name.
    pub name: String,
    /// Server version.
    pub version: String,
    /// Supported protocol extensions.
    #[serde(default)]
    pub extensions: Vec<String>,
}

/// Error body of every failed V2 REST call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// What went wrong.
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_round_trips_and_omits_absent_fields() {
        let body = json!({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [[1.0, 2.0]]}]});
        let req: InferenceRequest = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(req.inputs[0].name, "x");
        assert_eq!(req.id, None);
        assert_eq!(serde_json::to_value(&req).unwrap(), body);
    }

    #[test]
    fn metadata_accepts_missing_platform_and_signature() {
        let m: MetadataModelResponse = serde_json::from_value(json!({"name": "m"})).unwrap();
        assert_eq!(m.platform, "");
        assert!(m.inputs.is_empty());
    }

    #[test]
    fn request_without_inputs_is_rejected_naming_the_field() {
        let err = serde_json::from_value::<InferenceRequest>(json!({"id": "1"})).unwrap_err();
        assert!(err.to_string().contains("inputs"), "{err}");
    }
}
