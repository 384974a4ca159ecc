//! Resource endpoints: authorization, then get, list, watch, create, update, patch, delete and logs.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};

use super::output::{self, Shape};
use super::patch::{self, PatchKind};
use super::request::{Req, ResourcePath};
use super::response::{json_response, text_response};
use super::server::ApiServer;
use super::{managed, page, protobuf, review, scale, watch};
use crate::controllers::LOG_ANNOTATION;
use crate::rbac::{Attributes, UserInfo};
use crate::store::ApiError;

impl ApiServer {
    /// A request on a resource path: authorizes it, then runs the verb.
    pub(super) async fn resource(
        &self,
        req: &Req,
        group: &str,
        version: &str,
        rest: &[&str],
    ) -> Result<Response<Body>, ApiError> {
        let path = ResourcePath::parse(group, version, rest).ok_or_else(ApiError::no_route)?;
        let rt = path.rt;
        if !self.store.serves(rt)
            || (rt.namespaced && path.name.is_some() && path.namespace.is_none())
            || (!rt.namespaced && path.namespace.is_some())
        {
            return Err(ApiError::no_route());
        }
        let verb = path.verb(&req.method, req.watch())?;
        let sub_ok = match path.sub.as_deref() {
            None => rt.verbs.contains(&verb),
            Some("status") => rt.has_status && matches!(verb, "get" | "update" | "patch"),
            Some("log") => rt.kind == "Pod" && verb == "get",
            Some("scale") => scale::scalable(rt.kind) && matches!(verb, "get" | "update" | "patch"),
            Some(_) => false,
        };
        if !sub_ok {
            // A subresource the type does not have does not exist at all (404), as on the API server.
            let missing_sub = match path.sub.as_deref() {
                None => false,
                Some("status") => !rt.has_status,
                Some("log") => rt.kind != "Pod",
                Some("scale") => !scale::scalable(rt.kind),
                Some(_) => true,
            };
            if missing_sub {
                return Err(ApiError::no_route());
            }
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({verb} {})",
                path.describe()
            )));
        }
        let dry_run = dry_run(req, verb)?;
        let requester = review::requester(&req.headers);
        if requester != review::admin() {
            let attrs = Attributes::Resource {
                verb: verb.into(),
                group: rt.group.into(),
                resource: rt.plural.into(),
                subresource: path.sub.clone().unwrap_or_default(),
                namespace: path.namespace.clone().unwrap_or_default(),
                name: path.name.clone().unwrap_or_default(),
            };
            review::authorize(&self.store, &requester, &attrs)?;
        }
        let include = req.query.get("includeObject").map(String::as_str);
        let shape = output::negotiate(
            req.headers
                .get(header::ACCEPT)
                .and_then(|a| a.to_str().ok()),
            include,
        )?;
        let ns = path.namespace.as_deref();
        match (verb, path.sub.as_deref()) {
            ("get", Some("log")) => self.logs(req, &path),
            (_, Some("scale")) => self.scale(req, &path, verb, dry_run),
            ("get", _) => {
                let name = path.name.as_deref().expect("get has a name");
                let obj = self
                    .store
                    .get(rt, ns, name)
                    .ok_or_else(|| ApiError::not_found(rt, name))?;
                Ok(json_response(
                    StatusCode::OK,
                    &output::render_one(shape, rt, &obj, self.crd(rt).as_ref()),
                ))
            }
            ("list", _) => {
                let sel = req.selectors(rt)?;
                let (items, rv) = self.store.list(rt, ns);
                let items = items.into_iter().filter(|o| sel.matches(o)).collect();
                let (items, token, remaining) =
                    page::page(items, req.query.get("limit"), req.query.get("continue"), rv)?;
                let mut list = output::render_list(shape, rt, items, rv, self.crd(rt).as_ref());
                if let Some(t) = token {
                    list["metadata"]["continue"] = json!(t);
                    let selected = ["labelSelector", "fieldSelector"]
                        .iter()
                        .any(|k| req.query.get(*k).is_some_and(|v| !v.is_empty()));
                    if !selected {
                        list["metadata"]["remainingItemCount"] = json!(remaining);
                    }
                }
                Ok(json_response(StatusCode::OK, &list))
            }
            ("watch", _) => self.watch(req, &path, shape),
            ("create", _) => self.create(req, &path, &requester, dry_run),
            ("update", sub) => {
                let mut obj = self.body_object(req, &path)?;
                let status_only = sub == Some("status");
                let name = path.name.as_deref().expect("update has a name");
                if let Some(old) = self.store.get(rt, ns, name) {
                    managed::record_update(rt, Some(&old), &mut obj, &manager(req), status_only);
                }
                let out = self.store.update_with(rt, obj, status_only, dry_run)?;
                Ok(json_response(StatusCode::OK, &out))
            }
            ("patch", _) => self.patch(req, &path, dry_run),
            ("delete", _) => self.delete(req, &path, dry_run),
            ("deletecollection", _) => {
                let sel = req.selectors(rt)?;
                let (items, rv) = self.store.list(rt, ns);
                let mut deleted = Vec::new();
                for o in items.into_iter().filter(|o| sel.matches(o)) {
                    let name = o["metadata"]["name"].as_str().unwrap_or_default();
                    // Gone already (garbage-collected with an owner) is fine.
                    if let Ok(d) = self.store.delete_with(
                        rt,
                        o["metadata"]["namespace"].as_str(),
                        name,
                        dry_run,
                    ) {
                        deleted.push(d);
                    }
                }
                Ok(json_response(
                    StatusCode::OK,
                    &output::render_list(Shape::Object, rt, deleted, rv, None),
                ))
            }
            _ => Err(ApiError::method_not_allowed(format!(
                "{verb} is not supported on {}",
                path.describe()
            ))),
        }
    }

    /// Parses the body of a create or update and checks it against the URL.
    fn body_object(&self, req: &Req, path: &ResourcePath) -> Result<Value, ApiError> {
        let rt = path.rt;
        let ct = req
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|c| c.to_str().ok())
            .unwrap_or_default();
        let mut obj = if protobuf::is_protobuf(ct) {
            protobuf::decode(rt.kind, &req.body)?
        } else {
            patch::parse_body(&req.body)?
        };
        if !obj.is_object() {
            return Err(ApiError::bad_request(format!(
                "the request body for {} is not a JSON object",
                rt.kind
            )));
        }
        if let Some(av) = obj["apiVersion"].as_str()
            && av != rt.api_version()
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                rt.api_version()
            )));
        }
        if let Some(kind) = obj["kind"].as_str()
            && kind != rt.kind
        {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                rt.kind
            )));
        }
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        if let Some(ns) = &path.namespace {
            match obj["metadata"]["namespace"].as_str() {
                None | Some("") => obj["metadata"]["namespace"] = json!(ns),
                Some(body_ns) if body_ns != ns => {
                    return Err(ApiError::bad_request(format!(
                        "the namespace of the provided object ({body_ns}) does not match the namespace sent on the request ({ns})"
                    )));
                }
                Some(_) => {}
            }
        } else if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        if let Some(name) = &path.name {
            match obj["metadata"]["name"].as_str() {
                None | Some("") => obj["metadata"]["name"] = json!(name),
                Some(body_name) if body_name != name => {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({body_name}) does not match the name on the URL ({name})"
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(obj)
    }

    fn create(
        &self,
        req: &Req,
        path: &ResourcePath,
        requester: &UserInfo,
        dry_run: bool,
    ) -> Result<Response<Body>, ApiError> {
        let rt = path.rt;
        if rt.namespaced && path.namespace.is_none() {
            return Err(ApiError::method_not_allowed(format!(
                "{} must be created in a namespace: POST to /…/namespaces/<namespace>/{}",
                rt.kind, rt.plural
            )));
        }
        let mut obj = self.body_object(req, path)?;
        if rt.group == "authorization.k8s.io" {
            let answer = review::review(&self.store, &self.faults, rt, requester, obj)?;
            return Ok(json_response(StatusCode::CREATED, &answer));
        }
        managed::record_update(rt, None, &mut obj, &manager(req), false);
        let created = self.store.create_with(rt, obj, dry_run)?;
        Ok(json_response(StatusCode::CREATED, &created))
    }

    fn patch(
        &self,
        req: &Req,
        path: &ResourcePath,
        dry_run: bool,
    ) -> Result<Response<Body>, ApiError> {
        let rt = path.rt;
        let name = path.name.as_deref().expect("patch has a name");
        let ns = path.namespace.as_deref();
        let ct = req
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|c| c.to_str().ok())
            .unwrap_or_default();
        let kind = PatchKind::from_content_type(ct)?;
        if kind == PatchKind::Apply && req.query.get("fieldManager").is_none_or(|m| m.is_empty()) {
            return Err(ApiError::invalid(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        }
        let status_only = path.sub.as_deref() == Some("status");
        let manager = manager(req);
        let force = req.query_flag("force");
        if kind != PatchKind::Apply && req.query.contains_key("force") {
            let mut e = ApiError::invalid(
                "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch",
            );
            e.details = Some(
                json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [{
                "reason": "FieldValueForbidden", "message": "Forbidden: may not be specified for non-apply patch", "field": "force"}]}),
            );
            return Err(e);
        }
        let give_up = std::time::Instant::now() + patch::RETRY_CHANGED_FOR;
        while std::time::Instant::now() < give_up {
            let Some(current) = self.store.get(rt, ns, name) else {
                if kind == PatchKind::Apply && !status_only {
                    // Server-side apply creates what does not exist yet.
                    let applied = patch::parse_body(&req.body)?;
                    patch::check_applied(rt, &applied)?;
                    let applied = managed::apply(rt, None, &applied, &manager, force)?;
                    let mut obj = self.body_object(
                        &Req {
                            body: Bytes::from(serde_json::to_vec(&applied).expect("JSON")),
                            ..req.clone()
                        },
                        path,
                    )?;
                    strip_nulls(&mut obj);
                    return Ok(json_response(
                        StatusCode::CREATED,
                        &self.store.create_with(rt, obj, dry_run)?,
                    ));
                }
                return Err(ApiError::not_found(rt, name));
            };
            let patched = if kind == PatchKind::Apply && !status_only {
                let applied = patch::parse_body(&req.body)?;
                patch::check_applied(rt, &applied)?;
                managed::apply(rt, Some(&current), &applied, &manager, force)?
            } else {
                let mut p = patch::apply_patch(rt, kind, &current, &req.body)?;
                managed::record_update(rt, Some(&current), &mut p, &manager, status_only);
                p
            };
            for (field, was) in [("name", Some(name)), ("namespace", ns)] {
                if patched["metadata"][field].as_str() != was {
                    return Err(ApiError::invalid(format!(
                        "{} \"{name}\" is invalid: metadata.{field}: Invalid value: the {field} of an object cannot be changed by a patch",
                        rt.kind
                    )));
                }
            }
            let raced =
                patched["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"];
            let result = self.store.update_with(rt, patched, status_only, dry_run);
            match result {
                Ok(out) => return Ok(json_response(StatusCode::OK, &out)),
                // The object changed between read and write: patch the new version, unless the
                // patch itself demanded a resource version.
                Err(e) if e.reason == "Conflict" && raced => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::conflict(rt, name))
    }

    fn delete(
        &self,
        req: &Req,
        path: &ResourcePath,
        mut dry_run: bool,
    ) -> Result<Response<Body>, ApiError> {
        let rt = path.rt;
        let name = path.name.as_deref().expect("delete has a name");
        let ns = path.namespace.as_deref();
        if !req.body.is_empty() {
            let opts = patch::parse_body(&req.body)?;
            if let Some(d) = opts["dryRun"].as_array().filter(|d| !d.is_empty()) {
                let values: Vec<String> = d
                    .iter()
                    .map(|v| v.as_str().unwrap_or_default().to_string())
                    .collect();
                dry_run = check_dry_run(&values, "DeleteOptions")?;
            }
            let pre = &opts["preconditions"];
            if pre.is_object() {
                let current = self
                    .store
                    .get(rt, ns, name)
                    .ok_or_else(|| ApiError::not_found(rt, name))?;
                for (field, label) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
                    if let Some(want) = pre[field].as_str()
                        && Some(want) != current["metadata"][field].as_str()
                    {
                        let mut e = ApiError::conflict(rt, name);
                        e.message = format!(
                            "Precondition failed: {label} in precondition: {want}, {label} in object meta: {}",
                            current["metadata"][field].as_str().unwrap_or_default()
                        );
                        return Err(e);
                    }
                }
            }
        }
        let obj = self.store.delete_with(rt, ns, name, dry_run)?;
        if obj["metadata"]["deletionTimestamp"].is_string() {
            // Finalizers keep it until they are removed: the API server returns the object.
            return Ok(json_response(StatusCode::OK, &obj));
        }
        let mut details = ApiError::details(rt, name);
        details["uid"] = obj["metadata"]["uid"].clone();
        let status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": details,
        });
        Ok(json_response(StatusCode::OK, &status))
    }

    fn logs(&self, req: &Req, path: &ResourcePath) -> Result<Response<Body>, ApiError> {
        let rt = path.rt;
        let name = path.name.as_deref().expect("log has a name");
        let pod = self
            .store
            .get(rt, path.namespace.as_deref(), name)
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        if let Some(c) = req.query.get("container") {
            let known: Vec<&str> = ["containers", "initContainers"]
                .iter()
                .flat_map(|f| pod["spec"][f].as_array().into_iter().flatten())
                .filter_map(|c| c["name"].as_str())
                .collect();
            if !known.contains(&c.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name} (containers: {})",
                    known.join(", ")
                )));
            }
        }
        let text = pod["metadata"]["annotations"][LOG_ANNOTATION]
            .as_str()
            .unwrap_or_default();
        let text = match req
            .query
            .get("tailLines")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => {
                let lines: Vec<&str> = text.lines().collect();
                let mut t = lines[lines.len().saturating_sub(n)..].join("\n");
                if !t.is_empty() {
                    t.push('\n');
                }
                t
            }
            None => text.to_string(),
        };
        Ok(text_response(StatusCode::OK, text))
    }

    fn watch(
        &self,
        req: &Req,
        path: &ResourcePath,
        shape: Shape,
    ) -> Result<Response<Body>, ApiError> {
        let rt = path.rt;
        let mut selectors = req.selectors(rt)?;
        if let Some(name) = &path.name {
            selectors.fields.pin_name(name);
        }
        let resource_version = match req.query.get("resourceVersion").map(String::as_str) {
            None | Some("") | Some("0") => None,
            Some(v) => Some(v.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid resourceVersion {v:?}: this server's resource versions are integers"
                ))
            })?),
        };
        let send_initial_events = req.query.get("sendInitialEvents").map(|v| v == "true");
        if send_initial_events == Some(true) && !req.query_flag("allowWatchBookmarks") {
            return Err(ApiError::invalid(
                "sendInitialEvents requires allowWatchBookmarks=true",
            ));
        }
        let requested = req
            .query
            .get("timeoutSeconds")
            .and_then(|t| t.parse::<u64>().ok())
            .map(Duration::from_secs);
        let timeout = match (requested, self.faults.transport.drop_watches_after) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let w = watch::WatchRequest {
            rt,
            namespace: path.namespace.clone(),
            selectors,
            shape,
            resource_version,
            bookmarks: req.query_flag("allowWatchBookmarks"),
            send_initial_events,
            timeout,
            crd: self.crd(rt),
        };
        let body = watch::start(&self.store, w);
        let mut r = Response::new(body);
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache, private"),
        );
        Ok(r)
    }
}

/// The manager of a write (`fieldManager`, else the User-Agent's product).
fn manager(req: &Req) -> String {
    managed::manager_of(
        req.query.get("fieldManager"),
        req.headers
            .get(header::USER_AGENT)
            .and_then(|u| u.to_str().ok()),
    )
}

/// `?dryRun=All` on a write; any other value is refused as the apiserver refuses it.
fn dry_run(req: &Req, verb: &str) -> Result<bool, ApiError> {
    let Some(v) = req.query.get("dryRun") else {
        return Ok(false);
    };
    let options = match verb {
        "create" => "CreateOptions",
        "update" => "UpdateOptions",
        "patch" => "PatchOptions",
        "delete" | "deletecollection" => "DeleteOptions",
        _ => return Ok(false),
    };
    check_dry_run(std::slice::from_ref(v), options)
}

/// `All` (dry run) or nothing; else 422 `<Options>.meta.k8s.io "" is invalid: dryRun: ...`.
fn check_dry_run(values: &[String], options: &str) -> Result<bool, ApiError> {
    if values.iter().all(|v| v == "All") {
        return Ok(!values.is_empty());
    }
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    let detail = format!(
        "Unsupported value: []string{{{}}}: supported values: \"All\"",
        quoted.join(", ")
    );
    let mut e = ApiError::invalid(format!(
        "{options}.meta.k8s.io \"\" is invalid: dryRun: {detail}"
    ));
    e.details = Some(json!({"group": "meta.k8s.io", "kind": options,
        "causes": [{"reason": "FieldValueNotSupported", "message": detail, "field": "dryRun"}]}));
    Err(e)
}

/// Server-side apply treats explicit nulls as "unset"; they are never stored.
fn strip_nulls(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|_, x| !x.is_null());
        m.values_mut().for_each(strip_nulls);
    } else if let Value::Array(a) = v {
        a.iter_mut().for_each(strip_nulls);
    }
}
