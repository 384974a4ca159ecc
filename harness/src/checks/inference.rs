//! `inference`: every sample through the namespace's `seldon-mesh`, outputs compared numerically;
//! the V2 readiness and metadata endpoints agree with the samples; gRPC is routed by the
//! `seldon-model` header as Seldon's envoy does.

use std::time::Duration;

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::kube::Deadline;
use crate::kube::seldon::model_served;
use crate::scenario::{Inference, Protocol};
use crate::target::v2_client;
use crate::v2::{self, InferenceClient, Sample, SampleSet, samples};

/// `inference`: every sample through the namespace's `seldon-mesh`, outputs compared.
pub async fn inference(ctx: &CheckContext<'_>, i: &Inference, deadline: Deadline) -> Verdict {
    let set = match samples::from_check(ctx.scenario, i) {
        Ok(s) => s,
        Err(e) => return Verdict::fail(format!("cannot build the requests: {e}")),
    };
    if let Err(why) = model_served(
        &ctx.client,
        &i.namespace,
        &i.model,
        &ctx.settling(),
        deadline,
    )
    .await
    {
        return Verdict::fail(why);
    }
    let client = match v2_client(ctx.mesh, &i.namespace, i.protocol, deadline).await {
        Ok(c) => c,
        Err(why) => return Verdict::fail(why),
    };
    if let Err(why) = v2_ready_and_described(&client, &i.model, &set).await {
        return Verdict::fail(format!(
            "model {} through seldon-mesh of {} over {} ({}): {why}",
            i.model,
            i.namespace,
            client.transport(),
            client.endpoint()
        ));
    }
    let failures = v2::check_samples(&client, &i.model, &set).await;
    let how = format!(
        "{} samples to model {} over {} through seldon-mesh of {} ({})",
        set.samples.len(),
        i.model,
        client.transport(),
        i.namespace,
        client.endpoint()
    );
    if failures.is_empty() {
        if i.protocol == Protocol::Grpc {
            let endpoint = client.endpoint().to_string();
            if let Err(why) =
                grpc_routes_by_header(&endpoint, &i.model, &set.samples[0], deadline).await
            {
                return Verdict::fail(format!("{how}: every output matched, but {why}"));
            }
        }
        Verdict::pass(format!("{how}: every output matched ({})", set.tolerance))
    } else {
        let lines: Vec<String> = failures.iter().map(|f| format!("  {f}")).collect();
        Verdict::fail(format!(
            "{how}: {} of {} wrong\n{}",
            failures.len(),
            set.samples.len(),
            lines.join("\n")
        ))
    }
}

/// The V2 readiness and metadata endpoints agree with the samples: server ready, model ready, and
/// the metadata lists every input the samples send (with their datatypes) and every output they
/// expect.
async fn v2_ready_and_described(
    client: &InferenceClient,
    model: &str,
    set: &SampleSet,
) -> Result<(), String> {
    match client.server_ready(model).await {
        Ok(true) => {}
        Ok(false) => return Err("the V2 server readiness endpoint says not ready".into()),
        Err(e) => return Err(format!("server readiness: {e}")),
    }
    match client.model_ready(model).await {
        Ok(true) => {}
        Ok(false) => return Err("the V2 model readiness endpoint says not ready".into()),
        Err(e) => return Err(format!("model readiness: {e}")),
    }
    let meta = client
        .model_metadata(model)
        .await
        .map_err(|e| format!("model metadata: {e}"))?;
    let mut problems = Vec::new();
    for sample in &set.samples {
        for t in &sample.inputs {
            match meta.inputs.iter().find(|m| m.name == t.name) {
                None => problems.push(format!("metadata has no input `{}`", t.name)),
                Some(m) if m.datatype != t.datatype => problems.push(format!(
                    "metadata says input `{}` is {}, the samples send {}",
                    t.name, m.datatype, t.datatype
                )),
                Some(_) => {}
            }
        }
        let expected = sample
            .outputs
            .iter()
            .map(|o| o.name.as_str())
            .chain(sample.expected_argmax.iter().map(|a| a.output.as_str()));
        for name in expected {
            if !meta.outputs.iter().any(|m| m.name == name) {
                problems.push(format!("metadata has no output `{name}`"));
            }
        }
    }
    problems.sort();
    problems.dedup();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Seldon's envoy routes gRPC only by the `seldon-model` metadata (there is no model in a gRPC
/// path), so the same request without it must not be answered. A mesh that answers it routes by
/// something else, e.g. the request body's model name.
async fn grpc_routes_by_header(
    endpoint: &str,
    model: &str,
    sample: &Sample,
    deadline: Deadline,
) -> Result<(), String> {
    use oip::grpc::grpc_inference_service_client::GrpcInferenceServiceClient;
    let uri = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("http://{endpoint}")
    };
    let timeout = deadline
        .remaining()
        .min(v2::DEFAULT_TIMEOUT)
        .max(Duration::from_secs(1));
    let channel = tonic::transport::Endpoint::from_shared(uri.clone())
        .map_err(|e| format!("{uri} is not a gRPC endpoint: {e}"))?
        .connect_timeout(timeout)
        .connect()
        .await
        .map_err(|e| format!("could not connect to {uri} again: {e}"))?;
    let msg = oip::grpc::ModelInferRequest {
        model_name: model.to_string(),
        inputs: sample
            .inputs
            .iter()
            .map(oip::NamedTensor::to_grpc_input)
            .collect(),
        ..Default::default()
    };
    let mut req = tonic::Request::new(msg);
    req.set_timeout(timeout);
    match GrpcInferenceServiceClient::new(channel)
        .model_infer(req)
        .await
    {
        Ok(_) => Err(format!(
            "a ModelInfer for `{model}` WITHOUT the `seldon-model` metadata was answered too: the mesh does not route gRPC by the `seldon-model` header as Seldon's envoy does (it routed by the request body's model name)"
        )),
        Err(status) => {
            tracing::debug!(
                "header-less ModelInfer refused as expected: {} {}",
                v2::grpc_code_name(status.code()),
                status.message()
            );
            Ok(())
        }
    }
}
