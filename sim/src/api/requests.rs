//! Counting the API requests the platform serves, by verb as Kubernetes names them (the
//! `verb` label of the API server's `apiserver_request_total`), so a client's load can be measured.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::http::Method;

/// Requests served so far, by verb; clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct RequestCounts {
    counts: Arc<Mutex<BTreeMap<&'static str, u64>>>,
}

impl RequestCounts {
    /// Counts one request.
    pub fn record(&self, method: &Method, path: &str, query: Option<&str>) {
        let verb = verb(method, path, query);
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(verb)
            .or_default() += 1;
    }

    /// The counts so far, by verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`, and `discovery` for non-resource paths such as `/api`, `/version`).
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect()
    }
}

/// The Kubernetes verb of a request (`k8s.io/apiserver` `RequestInfoFactory`).
pub fn verb(method: &Method, path: &str, query: Option<&str>) -> &'static str {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rest: &[&str] = match segs.as_slice() {
        ["api", _, rest @ ..] if !rest.is_empty() => rest,
        ["apis", _, _, rest @ ..] if !rest.is_empty() => rest,
        _ => return "discovery",
    };
    let (watch_path, rest) = match rest {
        ["watch", r @ ..] => (true, r),
        r => (false, r),
    };
    // namespaces/<ns>/<plural>/<name>/… or <plural>/<name>/…; `namespaces/<ns>` names a namespace.
    let named = match rest {
        ["namespaces", _, _, _, ..] => true,
        ["namespaces", _, _] => false,
        ["namespaces", _] => true,
        [_, _, ..] => true,
        _ => false,
    };
    let watch_query = query.is_some_and(|q| {
        q.split('&')
            .any(|kv| kv == "watch=true" || kv == "watch=1" || kv == "watch")
    });
    match *method {
        Method::GET if watch_path || watch_query => "watch",
        Method::GET if named => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_as_kubernetes_names_them() {
        let v = |m: Method, p: &str, q: Option<&str>| verb(&m, p, q);
        assert_eq!(v(Method::GET, "/api/v1/namespaces/a/pods", None), "list");
        assert_eq!(v(Method::GET, "/api/v1/namespaces/a/pods/p", None), "get");
        assert_eq!(
            v(Method::GET, "/api/v1/namespaces/a/pods/p/log", None),
            "get"
        );
        assert_eq!(v(Method::GET, "/api/v1/namespaces/a", None), "get");
        assert_eq!(v(Method::GET, "/api/v1/namespaces", None), "list");
        assert_eq!(
            v(
                Method::GET,
                "/apis/mlops.seldon.io/v1alpha1/namespaces/a/models",
                Some("fieldSelector=x&watch=true")
            ),
            "watch"
        );
        assert_eq!(
            v(Method::GET, "/api/v1/watch/namespaces/a/pods", None),
            "watch"
        );
        assert_eq!(v(Method::GET, "/apis/apps/v1/deployments", None), "list");
        assert_eq!(v(Method::POST, "/api/v1/namespaces/a/pods", None), "create");
        assert_eq!(
            v(Method::PATCH, "/api/v1/namespaces/a/pods/p", None),
            "patch"
        );
        assert_eq!(
            v(Method::PUT, "/api/v1/namespaces/a/pods/p/status", None),
            "update"
        );
        assert_eq!(
            v(Method::DELETE, "/api/v1/namespaces/a/pods/p", None),
            "delete"
        );
        assert_eq!(
            v(Method::DELETE, "/api/v1/namespaces/a/pods", None),
            "deletecollection"
        );
        assert_eq!(v(Method::GET, "/apis", None), "discovery");
        assert_eq!(v(Method::GET, "/api/v1", None), "discovery");
        assert_eq!(v(Method::GET, "/version", None), "discovery");
    }

    #[test]
    fn clones_share_counts() {
        let c = RequestCounts::default();
        c.clone().record(&Method::GET, "/api/v1/namespaces", None);
        c.record(&Method::GET, "/api/v1/namespaces", None);
        assert_eq!(c.snapshot().get("list"), Some(&2));
    }
}
