//! Table tests of RBAC evaluation.

use super::*;
use serde_json::{Value, json};

fn obj<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn view() -> RbacView {
    RbacView {
        roles: vec![
            obj(
                json!({"metadata": {"name": "model-editor", "namespace": "team-a"},
                "rules": [{"apiGroups": ["mlops.seldon.io"], "resources": ["models", "models/status"],
                           "verbs": ["get", "list", "create"]}]}),
            ),
            obj(
                json!({"metadata": {"name": "one-secret", "namespace": "team-a"},
                "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["s3"],
                           "verbs": ["get"]}]}),
            ),
            obj(json!({"metadata": {"name": "logs", "namespace": "team-b"},
                "rules": [{"apiGroups": [""], "resources": ["*/log"], "verbs": ["get"]}]})),
        ],
        cluster_roles: vec![
            obj(json!({"metadata": {"name": "pod-reader"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]})),
            obj(json!({"metadata": {"name": "everything"},
                "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]})),
            obj(json!({"metadata": {"name": "health"},
                "rules": [{"nonResourceURLs": ["/healthz", "/metrics/*"], "verbs": ["get"]}]})),
            obj(json!({"metadata": {"name": "aggregate"},
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"agg": "yes"}}]}, "rules": []})),
            obj(
                json!({"metadata": {"name": "piece", "labels": {"agg": "yes"}},
                "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]}]}),
            ),
        ],
        role_bindings: vec![
            obj(
                json!({"metadata": {"name": "ci-models", "namespace": "team-a"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "model-editor"},
                "subjects": [{"kind": "ServiceAccount", "name": "ci"}]}),
            ),
            obj(
                json!({"metadata": {"name": "readers", "namespace": "team-a"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pod-reader"},
                "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "team-a-devs"}]}),
            ),
            obj(
                json!({"metadata": {"name": "secret", "namespace": "team-a"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "one-secret"},
                "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}]}),
            ),
            obj(json!({"metadata": {"name": "logs", "namespace": "team-b"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "logs"},
                "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": "team-a"}]})),
            obj(
                json!({"metadata": {"name": "dangling", "namespace": "team-a"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "missing"},
                "subjects": [{"kind": "User", "name": "bob"}]}),
            ),
        ],
        cluster_role_bindings: vec![
            obj(json!({"metadata": {"name": "controller"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "everything"},
                "subjects": [{"kind": "ServiceAccount", "name": "manager", "namespace": "seldon-mesh"}]})),
            obj(json!({"metadata": {"name": "health"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "health"},
                "subjects": [{"kind": "Group", "name": "system:authenticated"}]})),
            obj(json!({"metadata": {"name": "agg"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "aggregate"},
                "subjects": [{"kind": "User", "name": "carol"}]})),
        ],
    }
}

fn res(verb: &str, group: &str, resource: &str, sub: &str, ns: &str, name: &str) -> Attributes {
    Attributes::Resource {
        verb: verb.into(),
        group: group.into(),
        resource: resource.into(),
        subresource: sub.into(),
        namespace: ns.into(),
        name: name.into(),
    }
}

fn user(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo {
        name: name.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

#[test]
fn rbac_table() {
    let sa_ci = service_account_user("team-a", "ci");
    let manager = service_account_user("seldon-mesh", "manager");
    // (name, user, attributes, expected reason; "" = denied)
    let cases: Vec<(&str, UserInfo, Attributes, &str)> = vec![
        (
            "service account via RoleBinding without subject namespace",
            sa_ci.clone(),
            res("create", "mlops.seldon.io", "models", "", "team-a", ""),
            r#"RBAC: allowed by RoleBinding "ci-models/team-a" of Role "model-editor" to ServiceAccount "ci/team-a""#,
        ),
        (
            "verb not granted",
            sa_ci.clone(),
            res("delete", "mlops.seldon.io", "models", "", "team-a", "m"),
            "",
        ),
        (
            "RoleBinding does not reach another namespace",
            sa_ci.clone(),
            res("create", "mlops.seldon.io", "models", "", "team-b", ""),
            "",
        ),
        (
            "wrong API group",
            sa_ci.clone(),
            res("get", "", "models", "", "team-a", "m"),
            "",
        ),
        (
            "explicit subresource in rule",
            sa_ci.clone(),
            res("get", "mlops.seldon.io", "models", "status", "team-a", "m"),
            r#"RBAC: allowed by RoleBinding "ci-models/team-a" of Role "model-editor" to ServiceAccount "ci/team-a""#,
        ),
        (
            "subresource not in rule",
            sa_ci.clone(),
            res("get", "mlops.seldon.io", "models", "scale", "team-a", "m"),
            "",
        ),
        (
            "*/subresource with namespaced SA subject in another namespace",
            sa_ci.clone(),
            res("get", "", "pods", "log", "team-b", "p"),
            r#"RBAC: allowed by RoleBinding "logs/team-b" of Role "logs" to ServiceAccount "ci/team-a""#,
        ),
        (
            "group via RoleBinding of ClusterRole",
            user("dave", &["team-a-devs"]),
            res("list", "", "pods", "", "team-a", ""),
            r#"RBAC: allowed by RoleBinding "readers/team-a" of ClusterRole "pod-reader" to Group "team-a-devs""#,
        ),
        (
            "RoleBinding of ClusterRole is still namespaced",
            user("dave", &["team-a-devs"]),
            res("list", "", "pods", "", "", ""),
            "",
        ),
        (
            "resourceNames match",
            user("alice", &[]),
            res("get", "", "secrets", "", "team-a", "s3"),
            r#"RBAC: allowed by RoleBinding "secret/team-a" of Role "one-secret" to User "alice""#,
        ),
        (
            "resourceNames other name",
            user("alice", &[]),
            res("get", "", "secrets", "", "team-a", "other"),
            "",
        ),
        (
            "resourceNames never match a request without a name",
            user("alice", &[]),
            res("get", "", "secrets", "", "team-a", ""),
            "",
        ),
        (
            "wildcards via ClusterRoleBinding",
            manager.clone(),
            res("delete", "apps", "statefulsets", "", "team-z", "x"),
            r#"RBAC: allowed by ClusterRoleBinding "controller" of ClusterRole "everything" to ServiceAccount "manager/seldon-mesh""#,
        ),
        (
            "same name, other namespace service account is someone else",
            service_account_user("team-b", "manager"),
            res("get", "", "pods", "", "team-b", ""),
            "",
        ),
        (
            "SA user without groups is not system:authenticated",
            user("system:serviceaccount:team-a:ci", &[]),
            Attributes::NonResource {
                verb: "get".into(),
                path: "/healthz".into(),
            },
            "",
        ),
        (
            "non-resource URL via group",
            sa_ci.clone(),
            Attributes::NonResource {
                verb: "get".into(),
                path: "/healthz".into(),
            },
            r#"RBAC: allowed by ClusterRoleBinding "health" of ClusterRole "health" to Group "system:authenticated""#,
        ),
        (
            "non-resource URL prefix wildcard",
            sa_ci.clone(),
            Attributes::NonResource {
                verb: "get".into(),
                path: "/metrics/cadvisor".into(),
            },
            r#"RBAC: allowed by ClusterRoleBinding "health" of ClusterRole "health" to Group "system:authenticated""#,
        ),
        (
            "binding to a missing role grants nothing",
            user("bob", &[]),
            res("get", "", "pods", "", "team-a", ""),
            "",
        ),
        (
            "aggregated ClusterRole carries selected rules",
            user("carol", &[]),
            res("list", "apps", "deployments", "", "team-a", ""),
            r#"RBAC: allowed by ClusterRoleBinding "agg" of ClusterRole "aggregate" to User "carol""#,
        ),
    ];
    let v = view();
    for (name, u, attrs, want) in cases {
        let d = review(&v, &u, &attrs, false);
        assert_eq!(d.allowed, !want.is_empty(), "{name}: {d:?}");
        assert_eq!(d.reason, want, "{name}");
    }
}

#[test]
fn allow_all_defect_and_privileged_group() {
    let v = view();
    let attrs = res("delete", "", "namespaces", "", "", "kube-system");
    assert!(!review(&v, &user("mallory", &[]), &attrs, false).allowed);
    assert!(review(&v, &user("mallory", &[]), &attrs, true).allowed);
    assert!(
        review(
            &v,
            &user("kubernetes-admin", &[PRIVILEGED_GROUP]),
            &attrs,
            false
        )
        .allowed
    );
}

#[test]
fn subject_access_review_spec_is_read_and_validated() {
    let v = view();
    let spec: SubjectAccessReviewSpec = obj(json!({
        "user": "system:serviceaccount:team-a:ci",
        "groups": ["system:serviceaccounts", "system:serviceaccounts:team-a", "system:authenticated"],
        "resourceAttributes": {"verb": "list", "group": "mlops.seldon.io", "resource": "models", "namespace": "team-a"}
    }));
    let d = review_subject(&v, &spec, false).unwrap();
    assert!(d.allowed);
    let status = d.to_status();
    assert!(status.allowed && status.reason.is_some());

    let denied_spec: SubjectAccessReviewSpec = obj(json!({
        "user": "system:serviceaccount:team-a:ci",
        "resourceAttributes": {"verb": "list", "resource": "secrets", "namespace": "team-b"}
    }));
    let status = review_subject(&v, &denied_spec, false).unwrap().to_status();
    assert!(!status.allowed);
    assert_eq!(
        status.reason, None,
        "a denial has no reason, like Kubernetes"
    );

    let empty: SubjectAccessReviewSpec = obj(json!({"user": "x"}));
    assert!(
        review_subject(&v, &empty, false)
            .unwrap_err()
            .contains("exactly one")
    );
    let nobody: SubjectAccessReviewSpec = obj(json!({"resourceAttributes": {"verb": "get"}}));
    assert!(
        review_subject(&v, &nobody, false)
            .unwrap_err()
            .contains("user or group")
    );

    let self_spec: SelfSubjectAccessReviewSpec = obj(json!({
        "resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "team-a"}
    }));
    assert!(
        review_self(&v, &user("dave", &["team-a-devs"]), &self_spec, false)
            .unwrap()
            .allowed
    );
    assert!(
        !review_self(&v, &user("eve", &[]), &self_spec, false)
            .unwrap()
            .allowed
    );
}
