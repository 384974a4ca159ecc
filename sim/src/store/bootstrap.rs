//! What every cluster has before anyone touches it: the system namespaces, cluster DNS, the API
//! server as pods reach it (`default/kubernetes`), and the API server's bootstrap RBAC policy (the default ClusterRoles and their bindings).

use serde_json::{Value, json};

use super::catalog::ResourceType;
use super::error::ApiError;
use super::objects::Store;

fn rt(group: &str, plural: &str) -> &'static ResourceType {
    ResourceType::by_plural(group, plural).expect("bootstrap types are in the catalogue")
}

/// Creates the bootstrap objects in an empty store.
pub fn bootstrap(store: &Store) -> Result<(), ApiError> {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        store.create(
            rt("", "namespaces"),
            json!({"metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}),
        )?;
    }
    cluster_dns(store)?;
    api_server(store)?;
    rbac_defaults(store)
}

/// The API server's address as pods reach it: kind's control-plane node.
pub const API_SERVER_IP: &str = "172.18.0.2";
/// The API server's secure port on the node (what policies see after the Service's DNAT).
pub const API_SERVER_PORT: i32 = 6443;

/// The API server as pods see it on kind: a host-network static pod on the node
/// (`kube-apiserver-<node>`, label `component: kube-apiserver`), and Service `default/kubernetes`
/// (443 → 6443) without a selector, whose `Endpoints` name the node's address.
fn api_server(store: &Store) -> Result<(), ApiError> {
    let image = "registry.k8s.io/kube-apiserver:v1.33.4";
    let pod = store.create(
        rt("", "pods"),
        json!({
            "metadata": {"name": "kube-apiserver-embedded-node", "namespace": "kube-system",
                         "labels": {"component": "kube-apiserver", "tier": "control-plane"}},
            "spec": {"hostNetwork": true, "nodeName": "embedded-node", "priorityClassName": "system-node-critical",
                     "containers": [{"name": "kube-apiserver", "image": image,
                                     "ports": [{"name": "https", "containerPort": API_SERVER_PORT, "protocol": "TCP"}]}]},
        }),
    )?;
    let mut running = pod;
    running["status"] = json!({
        "phase": "Running", "podIP": API_SERVER_IP, "podIPs": [{"ip": API_SERVER_IP}], "hostIP": API_SERVER_IP,
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "kube-apiserver", "ready": true, "restartCount": 0, "started": true,
                               "image": image, "state": {"running": {}}}],
    });
    store.update_status(rt("", "pods"), running)?;
    let labels = json!({"component": "apiserver", "provider": "kubernetes"});
    store.create(
        rt("", "services"),
        json!({
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": labels},
            "spec": {"clusterIP": "10.96.0.1", "type": "ClusterIP",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": API_SERVER_PORT}]},
        }),
    )?;
    store.create(
        rt("", "endpoints"),
        json!({
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": API_SERVER_IP}],
                         "ports": [{"name": "https", "port": API_SERVER_PORT, "protocol": "TCP"}]}],
        }),
    )?;
    Ok(())
}

/// The `kube-dns` pod and Service in `kube-system`, which network probes address.
fn cluster_dns(store: &Store) -> Result<(), ApiError> {
    let labels = json!({"k8s-app": "kube-dns"});
    let image = "registry.k8s.io/coredns/coredns:v1.11.3";
    let pod = store.create(
        rt("", "pods"),
        json!({
            "metadata": {"name": "coredns-0", "namespace": "kube-system", "labels": labels},
            "spec": {"containers": [{"name": "coredns", "image": image,
                "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                          {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"}]}],
                     "nodeName": "embedded-node"},
        }),
    )?;
    let mut running = pod;
    running["status"] = json!({
        "phase": "Running", "podIP": "10.244.0.2", "podIPs": [{"ip": "10.244.0.2"}],
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "coredns", "ready": true, "restartCount": 0, "started": true,
                               "image": image, "state": {"running": {}}}],
    });
    store.update_status(rt("", "pods"), running)?;
    store.create(
        rt("", "services"),
        json!({
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
            "spec": {"selector": labels, "clusterIP": "10.96.0.10", "type": "ClusterIP",
                     "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                               {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]},
        }),
    )?;
    Ok(())
}

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const ALL: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": [group], "resources": resources, "verbs": verbs})
}

/// `system:aggregate-to-view`: read access to a namespace's workloads and config, not secrets.
fn view_rules() -> Vec<Value> {
    vec![
        rule(
            "",
            &[
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
                "bindings",
                "events",
                "limitranges",
                "namespaces/status",
                "pods/log",
                "pods/status",
                "replicationcontrollers/status",
                "resourcequotas",
                "resourcequotas/status",
                "namespaces",
            ],
            READ,
        ),
        rule(
            "apps",
            &[
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ],
            READ,
        ),
        rule(
            "networking.k8s.io",
            &["ingresses", "ingresses/status", "networkpolicies"],
            READ,
        ),
        rule("discovery.k8s.io", &["endpointslices"], READ),
    ]
}

/// `system:aggregate-to-edit`: writes to workloads, config and secrets; never RBAC or quotas.
fn edit_rules() -> Vec<Value> {
    vec![
        rule(
            "",
            &[
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
                "secrets",
                "services/proxy",
            ],
            READ,
        ),
        rule("", &["serviceaccounts"], &["impersonate"]),
        rule(
            "",
            &[
                "pods",
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
            ],
            WRITE,
        ),
        rule("", &["pods/eviction", "serviceaccounts/token"], &["create"]),
        rule(
            "",
            &[
                "configmaps",
                "events",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ],
            WRITE,
        ),
        rule(
            "apps",
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
            WRITE,
        ),
        rule(
            "networking.k8s.io",
            &["ingresses", "networkpolicies"],
            WRITE,
        ),
    ]
}

/// `system:aggregate-to-admin`: RBAC inside the namespace and local access reviews.
fn admin_rules() -> Vec<Value> {
    vec![
        rule(
            "authorization.k8s.io",
            &["localsubjectaccessreviews"],
            &["create"],
        ),
        rule("rbac.authorization.k8s.io", &["rolebindings", "roles"], ALL),
    ]
}

fn label(key: &str) -> String {
    format!("rbac.authorization.k8s.io/aggregate-to-{key}")
}

/// The bootstrap policy of the API server, as `kubectl get clusterroles` shows it on a new
/// cluster (abridged to the API groups this platform serves plus the common workload groups).
/// The aggregated roles carry their computed rules, as the aggregation controller leaves them,
/// and their aggregation rules, so roles added later (e.g. by CRD charts) extend them.
fn rbac_defaults(store: &Store) -> Result<(), ApiError> {
    let crole = rt("rbac.authorization.k8s.io", "clusterroles");
    let crb = rt("rbac.authorization.k8s.io", "clusterrolebindings");
    let defaults = json!({"kubernetes.io/bootstrapping": "rbac-defaults"});
    let role = |name: &str, extra_labels: Value, rules: Vec<Value>, aggregate: Option<&str>| {
        let mut labels = defaults.clone();
        for (k, v) in extra_labels.as_object().into_iter().flatten() {
            labels[k] = v.clone();
        }
        let mut r = json!({"metadata": {"name": name, "labels": labels}, "rules": rules});
        if let Some(key) = aggregate {
            r["aggregationRule"] =
                json!({"clusterRoleSelectors": [{"matchLabels": {label(key): "true"}}]});
        }
        r
    };
    let (view, edit, admin) = (view_rules(), edit_rules(), admin_rules());
    let roles = [
        role(
            "cluster-admin",
            json!({}),
            vec![
                json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}),
                json!({"nonResourceURLs": ["*"], "verbs": ["*"]}),
            ],
            None,
        ),
        role(
            "system:aggregate-to-view",
            json!({label("view"): "true"}),
            view.clone(),
            None,
        ),
        role(
            "system:aggregate-to-edit",
            json!({label("edit"): "true"}),
            edit.clone(),
            None,
        ),
        role(
            "system:aggregate-to-admin",
            json!({label("admin"): "true"}),
            admin.clone(),
            None,
        ),
        role(
            "view",
            json!({label("edit"): "true"}),
            view.clone(),
            Some("view"),
        ),
        role(
            "edit",
            json!({label("admin"): "true"}),
            [view.clone(), edit.clone()].concat(),
            Some("edit"),
        ),
        role(
            "admin",
            json!({}),
            [view, edit, admin].concat(),
            Some("admin"),
        ),
        role(
            "system:basic-user",
            json!({}),
            vec![rule(
                "authorization.k8s.io",
                &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                &["create"],
            )],
            None,
        ),
        role(
            "system:discovery",
            json!({}),
            vec![
                json!({"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                                            "/openapi/*", "/readyz", "/version", "/version/"], "verbs": ["get"]}),
            ],
            None,
        ),
    ];
    for r in roles {
        store.create(crole, r)?;
    }
    let binding = |name: &str, group: &str| {
        json!({"metadata": {"name": name, "labels": defaults},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}]})
    };
    for (name, group) in [
        ("cluster-admin", "system:masters"),
        ("system:basic-user", "system:authenticated"),
        ("system:discovery", "system:authenticated"),
    ] {
        store.create(crb, binding(name, group))?;
    }
    Ok(())
}
