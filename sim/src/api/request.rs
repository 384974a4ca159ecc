//! A parsed request: method, path, query and body, and the resource its path points at.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method};

use super::select::{FieldSelector, LabelSelector, Selectors};
use crate::store::{ApiError, RESOURCES, ResourceType};

/// One parsed request.
#[derive(Clone)]
pub(super) struct Req {
    /// HTTP method.
    pub(super) method: Method,
    /// URL path, without the query.
    pub(super) path: String,
    /// Query parameters (the last value of a repeated one wins).
    pub(super) query: HashMap<String, String>,
    /// Request headers.
    pub(super) headers: HeaderMap,
    /// The whole body.
    pub(super) body: Bytes,
}

impl Req {
    /// Whether a boolean query parameter is set (`true` or `1`).
    pub(super) fn query_flag(&self, k: &str) -> bool {
        self.query.get(k).is_some_and(|v| v == "true" || v == "1")
    }

    /// `?watch=true`: the old way of asking for a watch.
    pub(super) fn watch(&self) -> bool {
        self.query_flag("watch")
    }

    /// The label and field selectors of the query, checked against the type.
    pub(super) fn selectors(&self, rt: &ResourceType) -> Result<Selectors, ApiError> {
        Ok(Selectors {
            labels: LabelSelector::parse(
                self.query.get("labelSelector").map_or("", String::as_str),
            )?,
            fields: FieldSelector::parse(
                self.query.get("fieldSelector").map_or("", String::as_str),
                rt,
            )?,
        })
    }
}

/// Where a resource request points.
#[derive(Debug, Clone)]
pub(super) struct ResourcePath {
    /// The resource type.
    pub(super) rt: &'static ResourceType,
    /// The namespace segment, if any.
    pub(super) namespace: Option<String>,
    /// The object name, if any.
    pub(super) name: Option<String>,
    /// The subresource (`status`, `log`, ...), if any.
    pub(super) sub: Option<String>,
    /// The legacy `/watch/` path prefix.
    pub(super) watch_path: bool,
}

impl ResourcePath {
    /// Parses what follows `/api/<version>` or `/apis/<group>/<version>`; `None` for unknown paths.
    pub(super) fn parse(group: &str, version: &str, rest: &[&str]) -> Option<ResourcePath> {
        let (watch_path, rest) = match rest {
            ["watch", r @ ..] => (true, r),
            r => (false, r),
        };
        let (namespace, rest) = match rest {
            // `namespaces/<name>/status` is the namespace's own subresource.
            ["namespaces", _, "status" | "finalize"] => (None, rest),
            ["namespaces", ns, r @ ..] if !r.is_empty() => (Some(ns.to_string()), r),
            r => (None, r),
        };
        let (plural, name, sub) = match rest {
            [p] => (*p, None, None),
            [p, n] => (*p, Some(n.to_string()), None),
            [p, n, s] => (*p, Some(n.to_string()), Some(s.to_string())),
            _ => return None,
        };
        let rt = RESOURCES
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)?;
        Some(ResourcePath {
            rt,
            namespace,
            name,
            sub,
            watch_path,
        })
    }

    /// The RBAC verb of a request on this path.
    pub(super) fn verb(
        &self,
        method: &Method,
        watch_query: bool,
    ) -> Result<&'static str, ApiError> {
        let named = self.name.is_some();
        Ok(match *method {
            Method::GET if self.watch_path || (watch_query && self.sub.is_none()) => "watch",
            Method::GET if named => "get",
            Method::GET => "list",
            Method::POST if !named => "create",
            Method::PUT if named => "update",
            Method::PATCH if named => "patch",
            Method::DELETE if named => "delete",
            Method::DELETE => "deletecollection",
            _ => {
                return Err(ApiError::method_not_allowed(format!(
                    "the server does not allow this method on the requested resource ({method} {})",
                    self.describe()
                )));
            }
        })
    }

    /// The path in words, for error messages.
    pub(super) fn describe(&self) -> String {
        let mut s = self.rt.plural.to_string();
        if let Some(n) = &self.name {
            s = format!("{s}/{n}");
        }
        if let Some(sub) = &self.sub {
            s = format!("{s}/{sub}");
        }
        if let Some(ns) = &self.namespace {
            s = format!("{s} in namespace {ns}");
        }
        s
    }
}

/// `(namespace, pod)` when `path` is a pod's `portforward` subresource.
pub(super) fn portforward_target(path: &str) -> Option<(String, String)> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["api", "v1", "namespaces", ns, "pods", name, "portforward"] => {
            Some((ns.to_string(), name.to_string()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_like_the_api_server() {
        let p = ResourcePath::parse("", "v1", &["namespaces", "ns", "pods", "p", "log"]).unwrap();
        assert_eq!(
            (
                p.rt.kind,
                p.namespace.as_deref(),
                p.name.as_deref(),
                p.sub.as_deref()
            ),
            ("Pod", Some("ns"), Some("p"), Some("log"))
        );
        let p = ResourcePath::parse("", "v1", &["namespaces", "ns", "status"]).unwrap();
        assert_eq!(
            (p.rt.kind, p.namespace, p.name.as_deref(), p.sub.as_deref()),
            ("Namespace", None, Some("ns"), Some("status"))
        );
        let p = ResourcePath::parse("", "v1", &["namespaces", "ns"]).unwrap();
        assert_eq!((p.rt.kind, p.name.as_deref()), ("Namespace", Some("ns")));
        let p = ResourcePath::parse("apps", "v1", &["watch", "namespaces", "ns", "deployments"])
            .unwrap();
        assert!(p.watch_path && p.name.is_none());
        let p = ResourcePath::parse("", "v1", &["pods"]).unwrap();
        assert_eq!((p.rt.kind, p.namespace), ("Pod", None));
        assert!(ResourcePath::parse("", "v1", &["widgets"]).is_none());
        assert!(ResourcePath::parse("", "v2", &["pods"]).is_none());
    }
}
