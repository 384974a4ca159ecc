//! Tensor conversions and validation.
use super::*;
use serde_json::json;

fn rest_input(datatype: &str, shape: Vec<i64>, data: Value) -> RequestInput {
    RequestInput {
        name: "x".into(),
        shape,
        datatype: datatype.into(),
        parameters: None,
        data,
    }
}

#[test]
fn nested_and_flat_json_give_the_same_tensor() {
    let nested = NamedTensor::from_rest_input(&rest_input(
        "FP32",
        vec![2, 2],
        json!([[1.0, 2.5], [3, -4.25]]),
    ))
    .unwrap();
    let flat =
        NamedTensor::from_rest_input(&rest_input("FP32", vec![2, 2], json!([1.0, 2.5, 3, -4.25])))
            .unwrap();
    assert_eq!(nested, flat);
    assert_eq!(nested.data, TensorData::F32(vec![1.0, 2.5, 3.0, -4.25]));
    assert_eq!(nested.datatype, "FP32");
}

#[test]
fn fp32_json_is_narrowed_from_f64() {
    let t = NamedTensor::from_rest_input(&rest_input("FP32", vec![1], json!([0.1]))).unwrap();
    assert_eq!(t.data, TensorData::F32(vec![0.1f32]));
    // And written back as the short decimal, not the widened binary value.
    assert_eq!(t.to_rest_input().data, json!([0.1]));
}

#[test]
fn shape_mismatch_names_tensor_and_counts() {
    let err = NamedTensor::from_rest_input(&rest_input("FP32", vec![1, 3], json!([1.0, 2.0])))
        .unwrap_err();
    assert_eq!(
        err,
        TensorError::ElementCount {
            tensor: "x".into(),
            shape: vec![1, 3],
            expected: 3,
            actual: 2
        }
    );
    assert!(err.to_string().contains("`x`"), "{err}");
}

#[test]
fn negative_dimension_is_rejected() {
    let err = NamedTensor::from_rest_input(&rest_input("FP32", vec![-1, 2], json!([1.0, 2.0])))
        .unwrap_err();
    assert!(
        matches!(err, TensorError::NegativeDimension { .. }),
        "{err:?}"
    );
}

#[test]
fn element_not_fitting_datatype_is_rejected_with_index() {
    let err =
        NamedTensor::from_rest_input(&rest_input("INT64", vec![2], json!([1, 2.5]))).unwrap_err();
    assert!(
        matches!(&err, TensorError::InvalidElement { index: 1, found, .. } if found == "2.5"),
        "{err:?}"
    );
    let err =
        NamedTensor::from_rest_input(&rest_input("UINT8", vec![1], json!([256]))).unwrap_err();
    assert!(
        matches!(err, TensorError::InvalidElement { index: 0, .. }),
        "{err:?}"
    );
    let err = NamedTensor::from_rest_input(&rest_input("FP32", vec![1], json!(["a"]))).unwrap_err();
    assert!(matches!(err, TensorError::InvalidElement { .. }), "{err:?}");
}

#[test]
fn unknown_datatype_is_rejected() {
    let err = NamedTensor::from_rest_input(&rest_input("FP16", vec![1], json!([1.0]))).unwrap_err();
    assert!(matches!(err, TensorError::UnsupportedDatatype { .. }));
    assert!(err.to_string().contains("FP16"));
}

#[test]
fn scalar_json_data_is_one_element() {
    let t = NamedTensor::from_rest_input(&rest_input("INT32", vec![1], json!(7))).unwrap();
    assert_eq!(t.data, TensorData::I32(vec![7]));
}

#[test]
fn bytes_and_bool_json() {
    let t =
        NamedTensor::from_rest_input(&rest_input("BYTES", vec![2], json!(["ab", "c"]))).unwrap();
    assert_eq!(
        t.data,
        TensorData::Bytes(vec![b"ab".to_vec(), b"c".to_vec()])
    );
    let t = NamedTensor::from_rest_input(&rest_input("BOOL", vec![2], json!([[true], [false]])))
        .unwrap();
    assert_eq!(t.data, TensorData::Bool(vec![true, false]));
}

#[test]
fn grpc_contents_round_trip_for_every_datatype() {
    let cases = vec![
        TensorData::Bool(vec![true, false]),
        TensorData::U8(vec![0, 255]),
        TensorData::U16(vec![1, 65535]),
        TensorData::U32(vec![1, u32::MAX]),
        TensorData::U64(vec![1, u64::MAX]),
        TensorData::I8(vec![-128, 127]),
        TensorData::I16(vec![-1, 2]),
        TensorData::I32(vec![i32::MIN, 3]),
        TensorData::I64(vec![i64::MIN, 4]),
        TensorData::F32(vec![1.5, -0.25]),
        TensorData::F64(vec![1e-300, 2.0]),
        TensorData::Bytes(vec![b"a".to_vec(), vec![]]),
    ];
    for data in cases {
        let t = NamedTensor::new("t", vec![2], data.clone());
        let back = NamedTensor::from_grpc_input(&t.to_grpc_input(), None).unwrap();
        assert_eq!(back, t, "contents round trip of {}", data.datatype());
        let out = NamedTensor::from_grpc_output(&t.to_grpc_output(), None).unwrap();
        assert_eq!(out, t);
        let raw =
            NamedTensor::from_grpc_parts("t", &t.datatype, &t.shape, None, Some(&data.to_raw()))
                .unwrap();
        assert_eq!(raw, t, "raw round trip of {}", data.datatype());
        if data.datatype() != "BYTES" {
            let json = NamedTensor::from_rest_output(&t.to_rest_output()).unwrap();
            assert_eq!(json, t, "json round trip of {}", data.datatype());
        }
    }
}

#[test]
fn grpc_contents_in_wrong_field_is_a_datatype_mismatch() {
    let mut input = NamedTensor::new("x", vec![2], TensorData::I32(vec![1, 2])).to_grpc_input();
    input.datatype = "FP32".into();
    let err = NamedTensor::from_grpc_input(&input, None).unwrap_err();
    assert!(
        matches!(&err, TensorError::DatatypeMismatch { detail, .. } if detail.contains("int_contents")),
        "{err:?}"
    );
}

#[test]
fn grpc_int8_contents_out_of_range_is_rejected() {
    let mut input = NamedTensor::new("x", vec![1], TensorData::I32(vec![300])).to_grpc_input();
    input.datatype = "INT8".into();
    let err = NamedTensor::from_grpc_input(&input, None).unwrap_err();
    assert!(matches!(err, TensorError::InvalidElement { .. }), "{err:?}");
}

#[test]
fn raw_input_contents_are_used_per_tensor() {
    let a = NamedTensor::new("a", vec![2], TensorData::F32(vec![1.0, 2.0]));
    let b = NamedTensor::new("b", vec![1], TensorData::I64(vec![9]));
    let mut req = ModelInferRequest {
        inputs: vec![a.to_grpc_input(), b.to_grpc_input()],
        ..Default::default()
    };
    for i in &mut req.inputs {
        i.contents = None;
    }
    req.raw_input_contents = vec![a.data.to_raw(), b.data.to_raw()];
    assert_eq!(inputs_from_grpc(&req).unwrap(), vec![a.clone(), b]);

    req.raw_input_contents.pop();
    assert_eq!(
        inputs_from_grpc(&req).unwrap_err(),
        TensorError::RawCount { raw: 1, tensors: 2 }
    );
}

#[test]
fn raw_length_not_multiple_of_width_is_rejected() {
    let err = TensorData::from_raw("x", "FP32", &[0, 0, 0]).unwrap_err();
    assert!(matches!(err, TensorError::RawLength { len: 3, .. }));
    let err = TensorData::from_raw("x", "BYTES", &[5, 0, 0, 0, b'a']).unwrap_err();
    assert!(matches!(err, TensorError::RawLength { .. }));
}

#[test]
fn validate_catches_datatype_and_count_disagreements() {
    let mut t = NamedTensor::new("y", vec![3], TensorData::F32(vec![1.0, 2.0, 3.0]));
    assert_eq!(t.validate(), Ok(()));
    t.datatype = "FP64".into();
    assert!(matches!(
        t.validate(),
        Err(TensorError::DatatypeMismatch { .. })
    ));
    t.datatype = "FP32".into();
    t.shape = vec![1, 2];
    assert!(matches!(
        t.validate(),
        Err(TensorError::ElementCount { .. })
    ));
}

#[test]
fn grpc_response_outputs_are_read() {
    let y = NamedTensor::new("y", vec![1, 2], TensorData::F32(vec![2.0, 4.0]));
    let resp = ModelInferResponse {
        model_name: "m_1".into(),
        outputs: vec![y.to_grpc_output()],
        ..Default::default()
    };
    assert_eq!(outputs_from_grpc(&resp).unwrap(), vec![y]);
}
