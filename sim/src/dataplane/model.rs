//! What an endpoint serves: model signatures, model implementations, models Ready in a namespace.

use std::collections::BTreeMap;
use std::sync::Arc;

use oip::NamedTensor;

/// Name, datatype and shape (`-1` = variable, e.g. batch) of one tensor of a signature.
pub use oip::rest::MetadataTensor as TensorSpec;

/// The inputs and outputs a model accepts and produces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelSignature {
    /// Serving platform reported in metadata (e.g. `mlserver`); may be empty.
    pub platform: String,
    /// Input tensors.
    pub inputs: Vec<TensorSpec>,
    /// Output tensors.
    pub outputs: Vec<TensorSpec>,
}

/// A model implementation the endpoint can call.
pub trait Predictor: Send + Sync {
    /// The model's signature; inputs are checked against it before `infer` is called.
    fn signature(&self) -> ModelSignature;
    /// Computes the outputs for inputs that fit the signature.
    fn infer(&self, inputs: &[NamedTensor]) -> Result<Vec<NamedTensor>, String>;
}

/// A model Ready in the namespace.
#[derive(Clone)]
pub struct ServedModel {
    /// Model name (the `Model` object's name).
    pub name: String,
    /// Version, reported as `<name>_<version>` in responses.
    pub version: String,
    /// The implementation.
    pub predictor: Arc<dyn Predictor>,
    /// Whether envoy can reach the model's server pods (NetworkPolicy may cut it).
    pub upstream: Upstream,
}

/// Why envoy cannot reach a model's server pods, per protocol (`None`: reachable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upstream {
    /// The agent's REST proxy (9001) is unreachable, and why.
    pub rest: Option<String>,
    /// The agent's gRPC proxy (9501) is unreachable, and why.
    pub grpc: Option<String>,
}

/// What envoy answers when the upstream connection times out (503, `UF` in its access log);
/// for gRPC it sends status 14 UNAVAILABLE with this message.
pub const UPSTREAM_TIMEOUT: &str =
    "upstream connect error or disconnect/reset before headers. reset reason: connection timeout";

impl std::fmt::Debug for ServedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedModel")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl ServedModel {
    /// `<name>_<version>`, the name Seldon's servers answer with.
    pub fn qualified_name(&self) -> String {
        format!("{}_{}", self.name, self.version)
    }
}

/// One step: the Model it calls (its name), where its inputs come from and how they are renamed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PipelineStep {
    /// The step's name, which is the Model it calls.
    pub name: String,
    /// Input references; empty means the pipeline's inputs.
    pub inputs: Vec<String>,
    /// `<step>.<outputs|inputs>.<tensor>` → the tensor name the step receives.
    pub tensor_map: BTreeMap<String, String>,
}

/// A pipeline Ready in the namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServedPipeline {
    /// The Pipeline object's name.
    pub name: String,
    /// Steps in spec order.
    pub steps: Vec<PipelineStep>,
    /// `spec.output.steps` references; empty: the pipeline never answers.
    pub output_steps: Vec<String>,
    /// `spec.output.tensorMap`.
    pub output_tensor_map: BTreeMap<String, String>,
}
