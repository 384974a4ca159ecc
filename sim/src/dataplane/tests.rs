//! The endpoint over real REST (reqwest) and real gRPC (the oip client).

use super::*;
use crate::faults::{Defect, Faults};
use oip::NamedTensor;
use oip::grpc::grpc_inference_service_client::GrpcInferenceServiceClient;
use oip::grpc::{ModelInferRequest, ModelMetadataRequest, ModelReadyRequest, ServerLiveRequest};
use oip::rest::{ErrorResponse, InferenceResponse, MetadataModelResponse};
use oip::tensor::TensorData;
use serde_json::{Value, json};
use tonic::Code;
use tonic::transport::Channel;

/// y = factor * x on FP32 `[-1, 2]`.
struct Scale(f32);

impl Predictor for Scale {
    fn signature(&self) -> ModelSignature {
        let spec = |name: &str| TensorSpec {
            name: name.into(),
            datatype: "FP32".into(),
            shape: vec![-1, 2],
        };
        ModelSignature {
            platform: "test".into(),
            inputs: vec![spec("x")],
            outputs: vec![spec("y")],
        }
    }

    fn infer(&self, inputs: &[NamedTensor]) -> Result<Vec<NamedTensor>, String> {
        let TensorData::F32(x) = &inputs[0].data else {
            return Err("x must be FP32".into());
        };
        Ok(vec![NamedTensor::new(
            "y",
            inputs[0].shape.clone(),
            TensorData::F32(x.iter().map(|v| v * self.0).collect()),
        )])
    }
}

fn models() -> Vec<ServedModel> {
    vec![
        ServedModel {
            name: "double".into(),
            version: "1".into(),
            predictor: Arc::new(Scale(2.0)),
            upstream: Default::default(),
        },
        ServedModel {
            name: "triple".into(),
            version: "3".into(),
            predictor: Arc::new(Scale(3.0)),
            upstream: Default::default(),
        },
    ]
}

fn mesh(flags: MeshFlags) -> Mesh {
    let m = Mesh::start("team-a", flags).expect("mesh starts");
    m.set_models(models());
    m
}

fn body(x: Value, datatype: &str, shape: Value) -> Value {
    json!({"id": "r1", "inputs": [{"name": "x", "datatype": datatype, "shape": shape, "data": x}]})
}

fn good_body() -> Value {
    body(json!([[1.0, 2.0]]), "FP32", json!([1, 2]))
}

async fn post(mesh: &Mesh, path: &str, header: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("http://{}{path}", mesh.addr()))
        .json(body);
    if let Some(h) = header {
        req = req.header(MODEL_HEADER, h);
    }
    let resp = req.send().await.expect("REST request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn get(mesh: &Mesh, path: &str, header: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(format!("http://{}{path}", mesh.addr()));
    if let Some(h) = header {
        req = req.header(MODEL_HEADER, h);
    }
    let resp = req.send().await.expect("REST request");
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn y_of(v: &Value) -> Vec<f32> {
    let resp: InferenceResponse = serde_json::from_value(v.clone()).expect("inference response");
    match NamedTensor::from_rest_output(&resp.outputs[0])
        .unwrap()
        .data
    {
        TensorData::F32(y) => y,
        other => panic!("unexpected {other:?}"),
    }
}

fn error_of(v: &Value) -> String {
    serde_json::from_value::<ErrorResponse>(v.clone())
        .unwrap_or_else(|_| panic!("not an error body: {v}"))
        .error
}

#[tokio::test]
async fn rest_routes_by_path_and_names_model_with_version() {
    let m = mesh(MeshFlags::default());
    let (status, v) = post(&m, "/v2/models/double/infer", None, &good_body()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(y_of(&v), vec![2.0, 4.0]);
    assert_eq!(v["model_name"], "double_1");
    assert_eq!(v["model_version"], "1");
    assert_eq!(v["id"], "r1");
}

#[tokio::test]
async fn rest_header_overrides_path() {
    let m = mesh(MeshFlags::default());
    let (status, v) = post(&m, "/v2/models/double/infer", Some("triple"), &good_body()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(y_of(&v), vec![3.0, 6.0]);
    assert_eq!(v["model_name"], "triple_3");
}

#[tokio::test]
async fn rest_unknown_model_is_404_with_error_body() {
    let m = mesh(MeshFlags::default());
    let (status, v) = post(&m, "/v2/models/nosuch/infer", None, &good_body()).await;
    assert_eq!(status, 404);
    assert!(error_of(&v).contains("nosuch"), "{v}");
    // The header decides even when the path names a real model.
    let (status, _) = post(&m, "/v2/models/double/infer", Some("nosuch"), &good_body()).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn rest_bad_inputs_are_400_naming_the_input() {
    let m = mesh(MeshFlags::default());
    let cases = [
        (body(json!([1.0, 2.0, 3.0]), "FP32", json!([1, 3])), "shape"),
        (body(json!([1, 2]), "INT64", json!([1, 2])), "datatype"),
        (
            body(json!([1.0]), "FP32", json!([1, 2])),
            "needs 2 elements",
        ),
        (
            json!({"inputs": [{"name": "z", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}]}),
            "not an input",
        ),
        (json!({"inputs": []}), "missing"),
    ];
    for (b, what) in cases {
        let (status, v) = post(&m, "/v2/models/double/infer", None, &b).await;
        assert_eq!(status, 400, "{what}: {v}");
        let msg = error_of(&v);
        assert!(msg.contains(what), "{what}: {msg}");
        assert!(msg.contains('`'), "names the input: {msg}");
    }
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v2/models/double/infer", m.addr()))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}

#[tokio::test]
async fn rest_health_ready_and_metadata_follow_routing() {
    let m = mesh(MeshFlags::default());
    assert_eq!(get(&m, "/v2/models/double/ready", None).await.0, 200);
    assert_eq!(get(&m, "/v2/models/nosuch/ready", None).await.0, 404);
    assert_eq!(get(&m, "/v2/health/ready", Some("double")).await.0, 200);
    assert_eq!(get(&m, "/v2/health/live", Some("double")).await.0, 200);
    let (status, text) = get(&m, "/v2/health/ready", None).await;
    assert_eq!(status, 404, "no model, no route: {text}");
    let (status, text) = get(&m, "/v2/models/triple", None).await;
    assert_eq!(status, 200);
    let meta: MetadataModelResponse = serde_json::from_str(&text).unwrap();
    assert_eq!(meta.name, "triple_3");
    assert_eq!(meta.inputs[0].shape, vec![-1, 2]);
    assert_eq!(meta.versions, Some(vec!["3".to_string()]));
}

#[tokio::test]
async fn set_models_replaces_the_ready_set() {
    let m = mesh(MeshFlags::default());
    m.set_models(models().into_iter().skip(1).collect());
    assert_eq!(m.model_names(), vec!["triple"]);
    assert_eq!(
        post(&m, "/v2/models/double/infer", None, &good_body())
            .await
            .0,
        404
    );
    assert_eq!(
        post(&m, "/v2/models/triple/infer", None, &good_body())
            .await
            .0,
        200
    );
}

async fn client(m: &Mesh) -> GrpcInferenceServiceClient<Channel> {
    GrpcInferenceServiceClient::connect(format!("http://{}", m.addr()))
        .await
        .expect("gRPC connects")
}

fn grpc_req<T>(msg: T, model: Option<&str>) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    if let Some(m) = model {
        r.metadata_mut().insert(MODEL_HEADER, m.parse().unwrap());
    }
    r
}

fn infer_msg(model_name: &str, input: NamedTensor) -> ModelInferRequest {
    ModelInferRequest {
        model_name: model_name.into(),
        id: "g1".into(),
        inputs: vec![input.to_grpc_input()],
        ..Default::default()
    }
}

fn x() -> NamedTensor {
    NamedTensor::new("x", vec![1, 2], TensorData::F32(vec![1.0, 2.0]))
}

fn grpc_y(resp: &oip::grpc::ModelInferResponse) -> Vec<f32> {
    match &oip::tensor::outputs_from_grpc(resp).unwrap()[0].data {
        TensorData::F32(y) => y.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn grpc_routes_by_metadata_only() {
    let m = mesh(MeshFlags::default());
    let mut c = client(&m).await;
    let resp = c
        .model_infer(grpc_req(infer_msg("double", x()), Some("double")))
        .await
        .expect("infer")
        .into_inner();
    assert_eq!(grpc_y(&resp), vec![2.0, 4.0]);
    assert_eq!(resp.model_name, "double_1");
    assert_eq!(resp.model_version, "1");
    assert_eq!(resp.id, "g1");

    // Metadata wins over the message's model_name.
    let resp = c
        .model_infer(grpc_req(infer_msg("double", x()), Some("triple")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(grpc_y(&resp), vec![3.0, 6.0]);

    let err = c
        .model_infer(grpc_req(infer_msg("double", x()), None))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err:?}");
    assert!(err.message().contains(MODEL_HEADER));

    let err = c
        .model_infer(grpc_req(infer_msg("nosuch", x()), Some("nosuch")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn grpc_bad_inputs_are_invalid_argument() {
    let m = mesh(MeshFlags::default());
    let mut c = client(&m).await;
    let wrong_type = NamedTensor::new("x", vec![1, 2], TensorData::I64(vec![1, 2]));
    let err = c
        .model_infer(grpc_req(infer_msg("double", wrong_type), Some("double")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("`x`") && err.message().contains("datatype"),
        "{}",
        err.message()
    );

    let wrong_shape = NamedTensor::new("x", vec![2], TensorData::F32(vec![1.0, 2.0]));
    let err = c
        .model_infer(grpc_req(infer_msg("double", wrong_shape), Some("double")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("shape"), "{}", err.message());

    let mut inconsistent = x().to_grpc_input();
    inconsistent.shape = vec![1, 3];
    let msg = ModelInferRequest {
        inputs: vec![inconsistent],
        ..Default::default()
    };
    let err = c
        .model_infer(grpc_req(msg, Some("double")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn grpc_raw_input_contents_are_accepted() {
    let m = mesh(MeshFlags::default());
    let mut c = client(&m).await;
    let mut msg = infer_msg("double", x());
    msg.inputs[0].contents = None;
    msg.raw_input_contents = vec![x().data.to_raw()];
    let resp = c
        .model_infer(grpc_req(msg, Some("double")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(grpc_y(&resp), vec![2.0, 4.0]);
}

#[tokio::test]
async fn grpc_ready_live_and_metadata() {
    let m = mesh(MeshFlags::default());
    let mut c = client(&m).await;
    let ready = c
        .model_ready(grpc_req(
            ModelReadyRequest {
                name: "double".into(),
                version: String::new(),
            },
            Some("double"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(ready.ready);
    let err = c
        .model_ready(grpc_req(
            ModelReadyRequest {
                name: "gone".into(),
                version: String::new(),
            },
            Some("gone"),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(
        c.server_live(grpc_req(ServerLiveRequest {}, Some("triple")))
            .await
            .unwrap()
            .into_inner()
            .live
    );
    assert_eq!(
        c.server_live(grpc_req(ServerLiveRequest {}, None))
            .await
            .unwrap_err()
            .code(),
        Code::Unimplemented
    );
    let meta = c
        .model_metadata(grpc_req(
            ModelMetadataRequest {
                name: "triple".into(),
                version: String::new(),
            },
            Some("triple"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(meta.name, "triple_3");
    assert_eq!(meta.inputs[0].name, "x");
    assert_eq!(meta.outputs[0].shape, vec![-1, 2]);
}

#[tokio::test]
async fn defect_mesh_ignores_model_header() {
    let m = mesh(MeshFlags {
        ignores_model_header: true,
        ..MeshFlags::default()
    });
    // REST: the header no longer overrides the path.
    let (status, v) = post(&m, "/v2/models/double/infer", Some("triple"), &good_body()).await;
    assert_eq!(status, 200);
    assert_eq!(y_of(&v), vec![2.0, 4.0]);
    // gRPC: routed by the message's model_name; metadata ignored, none needed.
    let mut c = client(&m).await;
    let resp = c
        .model_infer(grpc_req(infer_msg("double", x()), Some("triple")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(grpc_y(&resp), vec![2.0, 4.0]);
    assert!(
        c.model_infer(grpc_req(infer_msg("triple", x()), None))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn defect_wrong_inference_output() {
    let m = mesh(MeshFlags {
        wrong_output: true,
        ..MeshFlags::default()
    });
    let (_, v) = post(&m, "/v2/models/double/infer", None, &good_body()).await;
    assert_eq!(y_of(&v), vec![2.25, 4.25]);
    let mut c = client(&m).await;
    let resp = c
        .model_infer(grpc_req(infer_msg("", x()), Some("double")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(grpc_y(&resp), vec![2.25, 4.25]);
}

#[tokio::test]
async fn defect_unknown_model_answered_200() {
    let m = mesh(MeshFlags {
        unknown_model_answered_200: true,
        ..MeshFlags::default()
    });
    let (status, v) = post(&m, "/v2/models/nosuch/infer", None, &good_body()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model_name"], "nosuch");
    assert_eq!(v["outputs"][0]["shape"], json!([1, 2]));
    assert_eq!(y_of(&v), vec![0.0, 0.0]);
    assert_eq!(get(&m, "/v2/models/nosuch/ready", None).await.0, 200);
    let mut c = client(&m).await;
    let resp = c
        .model_infer(grpc_req(infer_msg("", x()), Some("nosuch")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.outputs.len(), 1);
    // Known models still answer correctly.
    let (_, v) = post(&m, "/v2/models/double/infer", None, &good_body()).await;
    assert_eq!(y_of(&v), vec![2.0, 4.0]);
}

#[tokio::test]
async fn shutdown_releases_the_port() {
    let m = mesh(MeshFlags::default());
    let addr = m.addr();
    assert_eq!(m.namespace(), "team-a");
    m.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "port still accepting"
    );
}

#[test]
fn start_outside_a_runtime_is_an_error() {
    let err = Mesh::start("team-a", MeshFlags::default())
        .err()
        .expect("no runtime");
    assert!(err.to_string().contains("Tokio runtime"), "{err}");
}

#[test]
fn flags_from_faults() {
    let f = MeshFlags::from_faults(&Faults::defect(Defect::WrongInferenceOutput));
    assert!(f.wrong_output && !f.ignores_model_header && !f.unknown_model_answered_200);
}

#[tokio::test]
async fn defect_invalid_input_answered_200() {
    let m = mesh(MeshFlags {
        invalid_input_answered_200: true,
        ..MeshFlags::default()
    });
    // A request the healthy endpoint refuses with 400 (see the wrong-shape tests) is answered.
    let mut body = good_body();
    body["inputs"][0]["shape"] = json!([1, 3]);
    body["inputs"][0]["data"] = json!([1.0, 2.0, 3.0]);
    let (status, v) = post(&m, "/v2/models/double/infer", None, &body).await;
    assert_eq!(status, 200, "{v}");
    assert!(
        v["outputs"][0]["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x.as_f64() == Some(0.0)),
        "{v}"
    );
}

/// A 25/75 route over the two models named `ab.experiment` and `double`, mirrored to `triple`.
fn experiment_mesh(mirror_percent: u32) -> Mesh {
    let m = mesh(MeshFlags::default());
    let route = ExperimentRoute {
        clusters: vec![("double".into(), 25), ("triple".into(), 75)],
        mirror: Some(("triple".into(), mirror_percent)),
    };
    m.set_routes(
        [
            ("ab.experiment".to_string(), route.clone()),
            ("double".to_string(), route),
        ]
        .into_iter()
        .collect(),
    );
    m
}

#[tokio::test]
async fn experiment_routes_split_by_weight_with_the_route_header_over_grpc() {
    let m = experiment_mesh(100);
    let mut c = client(&m).await;
    let mut counts = std::collections::BTreeMap::<String, u32>::new();
    for _ in 0..200 {
        let resp = c
            .model_infer(grpc_req(infer_msg("ab", x()), Some("ab.experiment")))
            .await
            .expect("routed");
        let route = resp
            .metadata()
            .get(ROUTE_HEADER)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let r = resp.into_inner();
        assert_eq!(route, format!(":{}:", r.model_name));
        // Each answer is the picked model's own numbers.
        let factor = if r.model_name == "double_1" { 2.0 } else { 3.0 };
        assert_eq!(grpc_y(&r), vec![factor, 2.0 * factor]);
        *counts.entry(r.model_name).or_default() += 1;
    }
    let double = f64::from(counts["double_1"]) / 200.0;
    assert!(
        (double - 0.25).abs() < 5.5 * (0.25f64 * 0.75 / 200.0).sqrt(),
        "{counts:?}"
    );
    // Mirrored at 100 %: every request was copied to the mirror, whose answers were discarded.
    assert_eq!(m.mirrored().get("triple"), Some(&200));
}

#[tokio::test]
async fn a_zero_mirror_percent_copies_nothing_and_the_default_model_route_is_split_too() {
    let m = experiment_mesh(0);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..100 {
        let (status, v) = post(&m, "/v2/models/double/infer", Some("double"), &good_body()).await;
        assert_eq!(status, 200, "{v}");
        seen.insert(v["model_name"].as_str().unwrap().to_string());
    }
    assert_eq!(
        seen.len(),
        2,
        "the default model's route is the experiment's: {seen:?}"
    );
    assert!(m.mirrored().is_empty());
}
