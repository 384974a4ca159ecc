//! One tensor model for both ends of the protocol, with checked conversions to and from REST
//! JSON, gRPC typed contents (`fp32_contents`, ...) and gRPC raw contents.
//!
//! Every conversion checks that the datatype is known, that each element fits it, and that the
//! element count matches the shape, and names the tensor when it fails.

use crate::grpc::{
    InferTensorContents, ModelInferRequest, ModelInferResponse, model_infer_request,
    model_infer_response,
};
use crate::rest::{RequestInput, ResponseOutput};
use serde_json::Value;

/// Why a tensor could not be converted or is inconsistent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TensorError {
    /// The datatype is not one of the V2 datatypes this crate handles.
    #[error(
        "tensor `{tensor}`: datatype `{datatype}` is not supported (use BOOL, UINT8..UINT64, INT8..INT64, FP32, FP64 or BYTES)"
    )]
    UnsupportedDatatype {
        /// Tensor name.
        tensor: String,
        /// Datatype given.
        datatype: String,
    },
    /// A dimension is negative.
    #[error("tensor `{tensor}`: shape {shape:?} has a negative dimension")]
    NegativeDimension {
        /// Tensor name.
        tensor: String,
        /// Shape given.
        shape: Vec<i64>,
    },
    /// The number of elements does not match the shape.
    #[error("tensor `{tensor}`: shape {shape:?} needs {expected} elements but data has {actual}")]
    ElementCount {
        /// Tensor name.
        tensor: String,
        /// Shape given.
        shape: Vec<i64>,
        /// Elements the shape needs.
        expected: u64,
        /// Elements present.
        actual: usize,
    },
    /// One element does not fit the datatype.
    #[error("tensor `{tensor}`: element {index} ({found}) is not a valid {datatype} value")]
    InvalidElement {
        /// Tensor name.
        tensor: String,
        /// Declared datatype.
        datatype: String,
        /// Flat index of the element.
        index: usize,
        /// The element as found.
        found: String,
    },
    /// The declared datatype disagrees with where or how the data is carried.
    #[error("tensor `{tensor}`: datatype `{datatype}` does not match the data: {detail}")]
    DatatypeMismatch {
        /// Tensor name.
        tensor: String,
        /// Declared datatype.
        datatype: String,
        /// What the data looks like.
        detail: String,
    },
    /// Raw bytes cannot be split into elements of the datatype.
    #[error("tensor `{tensor}`: {len} raw bytes are not a whole number of {datatype} elements")]
    RawLength {
        /// Tensor name.
        tensor: String,
        /// Declared datatype.
        datatype: String,
        /// Raw length in bytes.
        len: usize,
    },
    /// Raw contents are present but not one per tensor.
    #[error(
        "{raw} raw content entries for {tensors} tensors: there must be exactly one per tensor"
    )]
    RawCount {
        /// Raw entries present.
        raw: usize,
        /// Tensors declared.
        tensors: usize,
    },
}

/// Flat, row-major tensor elements, one variant per V2 datatype.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// `BOOL`
    Bool(Vec<bool>),
    /// `UINT8`
    U8(Vec<u8>),
    /// `UINT16`
    U16(Vec<u16>),
    /// `UINT32`
    U32(Vec<u32>),
    /// `UINT64`
    U64(Vec<u64>),
    /// `INT8`
    I8(Vec<i8>),
    /// `INT16`
    I16(Vec<i16>),
    /// `INT32`
    I32(Vec<i32>),
    /// `INT64`
    I64(Vec<i64>),
    /// `FP32`
    F32(Vec<f32>),
    /// `FP64`
    F64(Vec<f64>),
    /// `BYTES`
    Bytes(Vec<Vec<u8>>),
}

/// The datatypes handled, as spelled on the wire.
pub const DATATYPES: [&str; 12] = [
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP32",
    "FP64", "BYTES",
];

/// Builds a `TensorData` of one variant from an iterator of fallible element conversions.
macro_rules! collect_elems {
    ($variant:ident, $iter:expr) => {
        Ok(TensorData::$variant($iter.collect::<Result<Vec<_>, _>>()?))
    };
}

impl TensorData {
    /// The V2 datatype name of this data.
    pub fn datatype(&self) -> &'static str {
        match self {
            TensorData::Bool(_) => "BOOL",
            TensorData::U8(_) => "UINT8",
            TensorData::U16(_) => "UINT16",
            TensorData::U32(_) => "UINT32",
            TensorData::U64(_) => "UINT64",
            TensorData::I8(_) => "INT8",
            TensorData::I16(_) => "INT16",
            TensorData::I32(_) => "INT32",
            TensorData::I64(_) => "INT64",
            TensorData::F32(_) => "FP32",
            TensorData::F64(_) => "FP64",
            TensorData::Bytes(_) => "BYTES",
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::Bool(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::U16(v) => v.len(),
            TensorData::U32(v) => v.len(),
            TensorData::U64(v) => v.len(),
            TensorData::I8(v) => v.len(),
            TensorData::I16(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::Bytes(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Numeric elements widened to f64 (booleans as 0/1); `None` for `BYTES`.
    pub fn to_f64_vec(&self) -> Option<Vec<f64>> {
        Some(match self {
            TensorData::Bool(v) => v.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect(),
            TensorData::U8(v) => v.iter().map(|&x| x.into()).collect(),
            TensorData::U16(v) => v.iter().map(|&x| x.into()).collect(),
            TensorData::U32(v) => v.iter().map(|&x| x.into()).collect(),
            TensorData::U64(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::I8(v) => v.iter().map(|&x| x.into()).collect(),
            TensorData::I16(v) => v.iter().map(|&x| x.into()).collect(),
            TensorData::I32(v) => v.iter().map(|&x| x.into()).collect(),
            TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::F32(v) => v.iter().map(|&x| x.into()).collect(),
            TensorData::F64(v) => v.clone(),
            TensorData::Bytes(_) => return None,
        })
    }

    /// Parses JSON `data` (flat, nested, or a single scalar) as elements of `datatype`.
    ///
    /// FP32 numbers are read as f64 and narrowed, as JSON numbers carry no width. BYTES
    /// elements are JSON strings.
    pub fn from_json(
        tensor: &str,
        datatype: &str,
        data: &Value,
    ) -> Result<TensorData, TensorError> {
        let mut leaves = Vec::new();
        flatten(data, &mut leaves);
        let bad = |index: usize, v: &Value| TensorError::InvalidElement {
            tensor: tensor.to_string(),
            datatype: datatype.to_string(),
            index,
            found: v.to_string(),
        };
        let int = |i: usize, v: &Value| -> Result<i128, TensorError> {
            v.as_i64()
                .map(i128::from)
                .or_else(|| v.as_u64().map(i128::from))
                .ok_or_else(|| bad(i, v))
        };
        let it = leaves.iter().enumerate();
        match datatype {
            "BOOL" => collect_elems!(Bool, it.map(|(i, v)| v.as_bool().ok_or_else(|| bad(i, v)))),
            "UINT8" => collect_elems!(U8, it.map(|(i, v)| narrow(int(i, v)?, || bad(i, v)))),
            "UINT16" => collect_elems!(U16, it.map(|(i, v)| narrow(int(i, v)?, || bad(i, v)))),
            "UINT32" => collect_elems!(U32, it.map(|(i, v)| narrow(int(i, v)?, || bad(i, v)))),
            "UINT64" => collect_elems!(U64, it.map(|(i, v)| narrow(int(i, v)?, || bad(i, v)))),
            "INT8" => collect_elems!(I8, it.map(|(i, v)| narrow(int(i, v)?, || bad(i, v)))),
            "INT16" => collect_elems!(I16, it.map(|(i, v)| narrow(int(i, v)?, || bad(i, v)))),
            "INT32" => collect_elems!(I32, it.map(|(i, v)| narrow(int(i, v)?, || bad(i, v)))),
            "INT64" => collect_elems!(I64, it.map(|(i, v)| narrow(int(i, v)?, || bad(i, v)))),
            "FP32" => collect_elems!(
                F32,
                it.map(|(i, v)| v.as_f64().map(|x| x as f32).ok_or_else(|| bad(i, v)))
            ),
            "FP64" => collect_elems!(F64, it.map(|(i, v)| v.as_f64().ok_or_else(|| bad(i, v)))),
            "BYTES" => collect_elems!(
                Bytes,
                it.map(|(i, v)| {
                    v.as_str()
                        .map(|s| s.as_bytes().to_vec())
                        .ok_or_else(|| bad(i, v))
                })
            ),
            other => Err(unsupported(tensor, other)),
        }
    }

    /// The elements as a flat JSON array (BYTES as UTF-8 strings, lossily).
    pub fn to_json(&self) -> Value {
        fn arr<T: Into<Value> + Copy>(v: &[T]) -> Value {
            Value::Array(v.iter().map(|&x| x.into()).collect())
        }
        match self {
            TensorData::Bool(v) => arr(v),
            TensorData::U8(v) => arr(v),
            TensorData::U16(v) => arr(v),
            TensorData::U32(v) => arr(v),
            TensorData::U64(v) => arr(v),
            TensorData::I8(v) => arr(v),
            TensorData::I16(v) => arr(v),
            TensorData::I32(v) => arr(v),
            TensorData::I64(v) => arr(v),
            // Widen through the shortest decimal form so 0.1f32 is written as 0.1, not 0.10000000149.
            TensorData::F32(v) => Value::Array(
                v.iter()
                    .map(|x| {
                        x.to_string()
                            .parse::<f64>()
                            .ok()
                            .and_then(serde_json::Number::from_f64)
                            .map_or(Value::Null, Value::Number)
                    })
                    .collect(),
            ),
            TensorData::F64(v) => Value::Array(
                v.iter()
                    .map(|&x| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number))
                    .collect(),
            ),
            TensorData::Bytes(v) => Value::Array(
                v.iter()
                    .map(|b| Value::String(String::from_utf8_lossy(b).into_owned()))
                    .collect(),
            ),
        }
    }

    /// Reads gRPC typed contents from the field that matches `datatype`.
    ///
    /// Data found only in a field of another type is a datatype mismatch, not an empty tensor.
    pub fn from_contents(
        tensor: &str,
        datatype: &str,
        c: &InferTensorContents,
    ) -> Result<TensorData, TensorError> {
        let expected_field =
            contents_field(datatype).ok_or_else(|| unsupported(tensor, datatype))?;
        let filled: Vec<&str> = [
            ("bool_contents", c.bool_contents.is_empty()),
            ("int_contents", c.int_contents.is_empty()),
            ("int64_contents", c.int64_contents.is_empty()),
            ("uint_contents", c.uint_contents.is_empty()),
            ("uint64_contents", c.uint64_contents.is_empty()),
            ("fp32_contents", c.fp32_contents.is_empty()),
            ("fp64_contents", c.fp64_contents.is_empty()),
            ("bytes_contents", c.bytes_contents.is_empty()),
        ]
        .into_iter()
        .filter(|(_, empty)| !empty)
        .map(|(f, _)| f)
        .collect();
        if let Some(other) = filled.iter().find(|f| **f != expected_field) {
            return Err(TensorError::DatatypeMismatch {
                tensor: tensor.to_string(),
                datatype: datatype.to_string(),
                detail: format!("elements are in `{other}`, expected `{expected_field}`"),
            });
        }
        let bad = |index: usize, found: String| TensorError::InvalidElement {
            tensor: tensor.to_string(),
            datatype: datatype.to_string(),
            index,
            found,
        };
        macro_rules! narrowed {
            ($variant:ident, $field:ident) => {
                collect_elems!(
                    $variant,
                    c.$field
                        .iter()
                        .enumerate()
                        .map(|(i, &x)| narrow(x.into(), || bad(i, x.to_string())))
                )
            };
        }
        match datatype {
            "BOOL" => Ok(TensorData::Bool(c.bool_contents.clone())),
            "UINT8" => narrowed!(U8, uint_contents),
            "UINT16" => narrowed!(U16, uint_contents),
            "UINT32" => Ok(TensorData::U32(c.uint_contents.clone())),
            "UINT64" => Ok(TensorData::U64(c.uint64_contents.clone())),
            "INT8" => narrowed!(I8, int_contents),
            "INT16" => narrowed!(I16, int_contents),
            "INT32" => Ok(TensorData::I32(c.int_contents.clone())),
            "INT64" => Ok(TensorData::I64(c.int64_contents.clone())),
            "FP32" => Ok(TensorData::F32(c.fp32_contents.clone())),
            "FP64" => Ok(TensorData::F64(c.fp64_contents.clone())),
            "BYTES" => Ok(TensorData::Bytes(c.bytes_contents.clone())),
            other => Err(unsupported(tensor, other)),
        }
    }

    /// The elements as gRPC typed contents, in the field the datatype prescribes.
    pub fn to_contents(&self) -> InferTensorContents {
        let mut c = InferTensorContents::default();
        match self {
            TensorData::Bool(v) => c.bool_contents = v.clone(),
            TensorData::U8(v) => c.uint_contents = v.iter().map(|&x| x.into()).collect(),
            TensorData::U16(v) => c.uint_contents = v.iter().map(|&x| x.into()).collect(),
            TensorData::U32(v) => c.uint_contents = v.clone(),
            TensorData::U64(v) => c.uint64_contents = v.clone(),
            TensorData::I8(v) => c.int_contents = v.iter().map(|&x| x.into()).collect(),
            TensorData::I16(v) => c.int_contents = v.iter().map(|&x| x.into()).collect(),
            TensorData::I32(v) => c.int_contents = v.clone(),
            TensorData::I64(v) => c.int64_contents = v.clone(),
            TensorData::F32(v) => c.fp32_contents = v.clone(),
            TensorData::F64(v) => c.fp64_contents = v.clone(),
            TensorData::Bytes(v) => c.bytes_contents = v.clone(),
        }
        c
    }

    /// Decodes raw contents: little-endian fixed-width elements; BOOL one byte each; BYTES
    /// elements each prefixed by a 4-byte little-endian length.
    pub fn from_raw(tensor: &str, datatype: &str, raw: &[u8]) -> Result<TensorData, TensorError> {
        let len_err = || TensorError::RawLength {
            tensor: tensor.to_string(),
            datatype: datatype.to_string(),
            len: raw.len(),
        };
        macro_rules! fixed {
            ($variant:ident, $t:ty) => {{
                const W: usize = std::mem::size_of::<$t>();
                if raw.len() % W != 0 {
                    return Err(len_err());
                }
                Ok(TensorData::$variant(
                    raw.chunks_exact(W)
                        .map(|b| <$t>::from_le_bytes(b.try_into().expect("chunk of width W")))
                        .collect(),
                ))
            }};
        }
        match datatype {
            "BOOL" => Ok(TensorData::Bool(raw.iter().map(|&b| b != 0).collect())),
            "UINT8" => Ok(TensorData::U8(raw.to_vec())),
            "UINT16" => fixed!(U16, u16),
            "UINT32" => fixed!(U32, u32),
            "UINT64" => fixed!(U64, u64),
            "INT8" => Ok(TensorData::I8(raw.iter().map(|&b| b as i8).collect())),
            "INT16" => fixed!(I16, i16),
            "INT32" => fixed!(I32, i32),
            "INT64" => fixed!(I64, i64),
            "FP32" => fixed!(F32, f32),
            "FP64" => fixed!(F64, f64),
            "BYTES" => {
                let mut out = Vec::new();
                let mut rest = raw;
                while !rest.is_empty() {
                    let (head, tail) = rest.split_at_checked(4).ok_or_else(len_err)?;
                    let n = u32::from_le_bytes(head.try_into().expect("4 bytes")) as usize;
                    let (elem, tail) = tail.split_at_checked(n).ok_or_else(len_err)?;
                    out.push(elem.to_vec());
                    rest = tail;
                }
                Ok(TensorData::Bytes(out))
            }
            other => Err(unsupported(tensor, other)),
        }
    }

    /// Encodes the elements as raw contents (the inverse of [`TensorData::from_raw`]).
    pub fn to_raw(&self) -> Vec<u8> {
        fn le<T, const N: usize>(v: &[T], f: impl Fn(&T) -> [u8; N]) -> Vec<u8> {
            v.iter().flat_map(f).collect()
        }
        match self {
            TensorData::Bool(v) => v.iter().map(|&b| u8::from(b)).collect(),
            TensorData::U8(v) => v.clone(),
            TensorData::U16(v) => le(v, |x| x.to_le_bytes()),
            TensorData::U32(v) => le(v, |x| x.to_le_bytes()),
            TensorData::U64(v) => le(v, |x| x.to_le_bytes()),
            TensorData::I8(v) => le(v, |x| x.to_le_bytes()),
            TensorData::I16(v) => le(v, |x| x.to_le_bytes()),
            TensorData::I32(v) => le(v, |x| x.to_le_bytes()),
            TensorData::I64(v) => le(v, |x| x.to_le_bytes()),
            TensorData::F32(v) => le(v, |x| x.to_le_bytes()),
            TensorData::F64(v) => le(v, |x| x.to_le_bytes()),
            TensorData::Bytes(v) => v
                .iter()
                .flat_map(|b| {
                    let mut e = (b.len() as u32).to_le_bytes().to_vec();
                    e.extend_from_slice(b);
                    e
                })
                .collect(),
        }
    }
}

/// A named tensor as exchanged with a model: name, V2 datatype, shape, flat row-major data.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Tensor name.
    pub name: String,
    /// V2 datatype as on the wire (`FP32`, ...); agrees with `data` once validated.
    pub datatype: String,
    /// Shape; every dimension is concrete (no `-1`).
    pub shape: Vec<i64>,
    /// Elements.
    pub data: TensorData,
}

impl NamedTensor {
    /// A tensor whose datatype is taken from its data.
    pub fn new(name: impl Into<String>, shape: Vec<i64>, data: TensorData) -> NamedTensor {
        NamedTensor {
            name: name.into(),
            datatype: data.datatype().to_string(),
            shape,
            data,
        }
    }

    /// Checks that the datatype matches the data and the element count matches the shape.
    pub fn validate(&self) -> Result<(), TensorError> {
        if self.datatype != self.data.datatype() {
            return Err(TensorError::DatatypeMismatch {
                tensor: self.name.clone(),
                datatype: self.datatype.clone(),
                detail: format!("data holds {} elements", self.data.datatype()),
            });
        }
        check_count(&self.name, &self.shape, self.data.len())
    }

    /// Reads a REST request input (flat or nested data).
    pub fn from_rest_input(input: &RequestInput) -> Result<NamedTensor, TensorError> {
        Self::from_json_parts(&input.name, &input.datatype, &input.shape, &input.data)
    }

    /// Writes a REST request input with flat data.
    pub fn to_rest_input(&self) -> RequestInput {
        RequestInput {
            name: self.name.clone(),
            shape: self.shape.clone(),
            datatype: self.datatype.clone(),
            parameters: None,
            data: self.data.to_json(),
        }
    }

    /// Reads a REST response output (flat or nested data).
    pub fn from_rest_output(output: &ResponseOutput) -> Result<NamedTensor, TensorError> {
        Self::from_json_parts(&output.name, &output.datatype, &output.shape, &output.data)
    }

    /// Writes a REST response output with flat data.
    pub fn to_rest_output(&self) -> ResponseOutput {
        ResponseOutput {
            name: self.name.clone(),
            shape: self.shape.clone(),
            datatype: self.datatype.clone(),
            parameters: None,
            data: self.data.to_json(),
        }
    }

    /// Reads a gRPC input tensor from its typed contents, or from `raw` when the request
    /// carried `raw_input_contents`.
    pub fn from_grpc_input(
        t: &model_infer_request::InferInputTensor,
        raw: Option<&[u8]>,
    ) -> Result<NamedTensor, TensorError> {
        Self::from_grpc_parts(&t.name, &t.datatype, &t.shape, t.contents.as_ref(), raw)
    }

    /// Writes a gRPC input tensor with typed contents.
    pub fn to_grpc_input(&self) -> model_infer_request::InferInputTensor {
        model_infer_request::InferInputTensor {
            name: self.name.clone(),
            datatype: self.datatype.clone(),
            shape: self.shape.clone(),
            parameters: Default::default(),
            contents: Some(self.data.to_contents()),
        }
    }

    /// Reads a gRPC output tensor from its typed contents, or from `raw` when the response
    /// carried `raw_output_contents`.
    pub fn from_grpc_output(
        t: &model_infer_response::InferOutputTensor,
        raw: Option<&[u8]>,
    ) -> Result<NamedTensor, TensorError> {
        Self::from_grpc_parts(&t.name, &t.datatype, &t.shape, t.contents.as_ref(), raw)
    }

    /// Writes a gRPC output tensor with typed contents.
    pub fn to_grpc_output(&self) -> model_infer_response::InferOutputTensor {
        model_infer_response::InferOutputTensor {
            name: self.name.clone(),
            datatype: self.datatype.clone(),
            shape: self.shape.clone(),
            parameters: Default::default(),
            contents: Some(self.data.to_contents()),
        }
    }

    fn from_json_parts(
        name: &str,
        datatype: &str,
        shape: &[i64],
        data: &Value,
    ) -> Result<NamedTensor, TensorError> {
        let data = TensorData::from_json(name, datatype, data)?;
        check_count(name, shape, data.len())?;
        Ok(NamedTensor::new(name, shape.to_vec(), data))
    }

    fn from_grpc_parts(
        name: &str,
        datatype: &str,
        shape: &[i64],
        contents: Option<&InferTensorContents>,
        raw: Option<&[u8]>,
    ) -> Result<NamedTensor, TensorError> {
        let data = match (raw, contents) {
            (Some(raw), None) => TensorData::from_raw(name, datatype, raw)?,
            (Some(_), Some(_)) => {
                return Err(TensorError::DatatypeMismatch {
                    tensor: name.to_string(),
                    datatype: datatype.to_string(),
                    detail: "both typed contents and raw contents are set".to_string(),
                });
            }
            (None, Some(c)) => TensorData::from_contents(name, datatype, c)?,
            (None, None) => {
                TensorData::from_contents(name, datatype, &InferTensorContents::default())?
            }
        };
        check_count(name, shape, data.len())?;
        Ok(NamedTensor::new(name, shape.to_vec(), data))
    }
}

/// All input tensors of a gRPC request, taking `raw_input_contents` into account.
pub fn inputs_from_grpc(req: &ModelInferRequest) -> Result<Vec<NamedTensor>, TensorError> {
    let raw = raw_per_tensor(&req.raw_input_contents, req.inputs.len())?;
    req.inputs
        .iter()
        .enumerate()
        .map(|(i, t)| NamedTensor::from_grpc_input(t, raw.map(|r| r[i].as_slice())))
        .collect()
}

/// All output tensors of a gRPC response, taking `raw_output_contents` into account.
pub fn outputs_from_grpc(resp: &ModelInferResponse) -> Result<Vec<NamedTensor>, TensorError> {
    let raw = raw_per_tensor(&resp.raw_output_contents, resp.outputs.len())?;
    resp.outputs
        .iter()
        .enumerate()
        .map(|(i, t)| NamedTensor::from_grpc_output(t, raw.map(|r| r[i].as_slice())))
        .collect()
}

/// Number of elements a shape holds, or `None` when a dimension is negative.
pub fn element_count(shape: &[i64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &d| {
        u64::try_from(d).ok().map(|d| acc.saturating_mul(d))
    })
}

fn raw_per_tensor(raw: &[Vec<u8>], tensors: usize) -> Result<Option<&[Vec<u8>]>, TensorError> {
    match raw.len() {
        0 => Ok(None),
        n if n == tensors => Ok(Some(raw)),
        n => Err(TensorError::RawCount { raw: n, tensors }),
    }
}

fn check_count(tensor: &str, shape: &[i64], actual: usize) -> Result<(), TensorError> {
    let expected = element_count(shape).ok_or_else(|| TensorError::NegativeDimension {
        tensor: tensor.to_string(),
        shape: shape.to_vec(),
    })?;
    if expected != actual as u64 {
        return Err(TensorError::ElementCount {
            tensor: tensor.to_string(),
            shape: shape.to_vec(),
            expected,
            actual,
        });
    }
    Ok(())
}

fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        leaf => out.push(leaf),
    }
}

fn narrow<T: TryFrom<i128>>(x: i128, err: impl FnOnce() -> TensorError) -> Result<T, TensorError> {
    T::try_from(x).map_err(|_| err())
}

fn unsupported(tensor: &str, datatype: &str) -> TensorError {
    TensorError::UnsupportedDatatype {
        tensor: tensor.to_string(),
        datatype: datatype.to_string(),
    }
}

fn contents_field(datatype: &str) -> Option<&'static str> {
    Some(match datatype {
        "BOOL" => "bool_contents",
        "INT8" | "INT16" | "INT32" => "int_contents",
        "INT64" => "int64_contents",
        "UINT8" | "UINT16" | "UINT32" => "uint_contents",
        "UINT64" => "uint64_contents",
        "FP32" => "fp32_contents",
        "FP64" => "fp64_contents",
        "BYTES" => "bytes_contents",
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
