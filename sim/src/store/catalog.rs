//! The catalogue of resource types the platform serves, and how each maps to API paths.

/// A resource type the platform serves: where it lives in the API and how it is scoped.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// Kind, e.g. `Pod`.
    pub kind: &'static str,
    /// Plural resource name used in URLs, e.g. `pods`.
    pub plural: &'static str,
    /// Singular name, for kubectl.
    pub singular: &'static str,
    /// Short names, for kubectl.
    pub short_names: &'static [&'static str],
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Whether the `status` subresource exists (status changes only through it).
    pub has_status: bool,
    /// Verbs advertised in discovery.
    pub verbs: &'static [&'static str],
}

const RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const CREATE_ONLY: &[&str] = &["create"];

macro_rules! rt {
    ($g:expr, $v:expr, $k:expr, $p:expr, $s:expr, [$($sn:expr),*], $ns:expr, $st:expr) => {
        ResourceType { group: $g, version: $v, kind: $k, plural: $p, singular: $s, short_names: &[$($sn),*],
                       namespaced: $ns, has_status: $st, verbs: RW }
    };
}

/// Every resource type the platform serves.
pub static RESOURCES: &[ResourceType] = &[
    rt!(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        ["ns"],
        false,
        true
    ),
    rt!("", "v1", "Secret", "secrets", "secret", [], true, false),
    rt!(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        "configmap",
        ["cm"],
        true,
        false
    ),
    rt!(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        ["sa"],
        true,
        false
    ),
    rt!(
        "",
        "v1",
        "Service",
        "services",
        "service",
        ["svc"],
        true,
        true
    ),
    rt!("", "v1", "Pod", "pods", "pod", ["po"], true, true),
    rt!(
        "",
        "v1",
        "Endpoints",
        "endpoints",
        "endpoints",
        ["ep"],
        true,
        false
    ),
    rt!("", "v1", "Event", "events", "event", ["ev"], true, false),
    rt!(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        "resourcequota",
        ["quota"],
        true,
        true
    ),
    rt!(
        "",
        "v1",
        "LimitRange",
        "limitranges",
        "limitrange",
        ["limits"],
        true,
        false
    ),
    rt!(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        ["pvc"],
        true,
        true
    ),
    rt!(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        ["deploy"],
        true,
        true
    ),
    rt!(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        "persistentvolume",
        ["pv"],
        false,
        true
    ),
    rt!(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        "storageclass",
        ["sc"],
        false,
        false
    ),
    rt!(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        ["rs"],
        true,
        true
    ),
    rt!(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        ["sts"],
        true,
        true
    ),
    rt!(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        "lease",
        [],
        true,
        false
    ),
    rt!(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        "networkpolicy",
        ["netpol"],
        true,
        false
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        "role",
        [],
        true,
        false
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        "rolebinding",
        [],
        true,
        false
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        "clusterrole",
        [],
        false,
        false
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        "clusterrolebinding",
        [],
        false,
        false
    ),
    ResourceType {
        group: "authorization.k8s.io",
        version: "v1",
        kind: "SubjectAccessReview",
        plural: "subjectaccessreviews",
        singular: "subjectaccessreview",
        short_names: &[],
        namespaced: false,
        has_status: false,
        verbs: CREATE_ONLY,
    },
    ResourceType {
        group: "authorization.k8s.io",
        version: "v1",
        kind: "SelfSubjectRulesReview",
        plural: "selfsubjectrulesreviews",
        singular: "selfsubjectrulesreview",
        short_names: &[],
        namespaced: false,
        has_status: false,
        verbs: CREATE_ONLY,
    },
    ResourceType {
        group: "authorization.k8s.io",
        version: "v1",
        kind: "SelfSubjectAccessReview",
        plural: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        short_names: &[],
        namespaced: false,
        has_status: false,
        verbs: CREATE_ONLY,
    },
    rt!(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        "customresourcedefinition",
        ["crd", "crds"],
        false,
        true
    ),
    rt!(
        "mlops.seldon.io",
        "v1alpha1",
        "SeldonRuntime",
        "seldonruntimes",
        "seldonruntime",
        [],
        true,
        true
    ),
    rt!(
        "mlops.seldon.io",
        "v1alpha1",
        "SeldonConfig",
        "seldonconfigs",
        "seldonconfig",
        [],
        true,
        true
    ),
    rt!(
        "mlops.seldon.io",
        "v1alpha1",
        "ServerConfig",
        "serverconfigs",
        "serverconfig",
        [],
        true,
        false
    ),
    rt!(
        "mlops.seldon.io",
        "v1alpha1",
        "Server",
        "servers",
        "server",
        ["mls"],
        true,
        true
    ),
    rt!(
        "mlops.seldon.io",
        "v1alpha1",
        "Model",
        "models",
        "model",
        ["mlm"],
        true,
        true
    ),
    rt!(
        "mlops.seldon.io",
        "v1alpha1",
        "Pipeline",
        "pipelines",
        "pipeline",
        ["mlp"],
        true,
        true
    ),
    // The sealed-secrets chart's CRD (served once `sealed::install` created it).
    rt!(
        "bitnami.com",
        "v1alpha1",
        "SealedSecret",
        "sealedsecrets",
        "sealedsecret",
        [],
        true,
        true
    ),
    // Model Experiments are reconciled (`seldon/experiment.rs`, docs/seldon-behaviour.md §19).
    rt!(
        "mlops.seldon.io",
        "v1alpha1",
        "Experiment",
        "experiments",
        "experiment",
        ["mlx"],
        true,
        true
    ),
];

impl ResourceType {
    /// `group/version`, or `version` for the core group, as in `apiVersion`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether the type comes from a CustomResourceDefinition (served only while its CRD exists).
    pub fn is_custom(&self) -> bool {
        !(self.group.is_empty() || self.group == "apps" || self.group.ends_with(".k8s.io"))
    }

    /// The name of the CRD that defines this type: `<plural>.<group>`.
    pub fn crd_name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }

    /// Looks a resource type up by group and plural name.
    pub fn by_plural(group: &str, plural: &str) -> Option<&'static ResourceType> {
        RESOURCES
            .iter()
            .find(|r| r.group == group && r.plural == plural)
    }

    /// Looks a resource type up by `apiVersion` and `kind`.
    pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
        RESOURCES
            .iter()
            .find(|r| r.kind == kind && r.api_version() == api_version)
    }
}
