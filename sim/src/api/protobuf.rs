//! Kubernetes protobuf request bodies, for the kinds kubectl's typed commands send that way
//! (`kubectl create configmap|secret|namespace|serviceaccount|role|rolebinding|...`,
//! `kubectl auth can-i`). Responses are always JSON, which those clients also accept.
//!
//! A body is `k8s\0` followed by a `runtime.Unknown` {typeMeta, raw}; `raw` is the object. Only
//! the fields below are decoded (from the field numbers of k8s.io/api's `generated.proto`);
//! unknown fields are skipped, as protobuf allows.

use serde_json::{Map, Value, json};

use crate::store::ApiError;

/// The magic prefix of a Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\0";

/// The media type of Kubernetes protobuf.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    Msg(&'static [Field]),
    RepStr,
    RepMsg(&'static [Field]),
    MapStr,
    MapBytes,
    /// `metav1.Time` {seconds, nanos}, as RFC 3339.
    Time,
}

struct Field(u64, &'static str, Kind);

use Kind::*;

const OWNER_REF: &[Field] = &[
    Field(1, "kind", Str),
    Field(3, "name", Str),
    Field(4, "uid", Str),
    Field(5, "apiVersion", Str),
    Field(6, "controller", Bool),
    Field(7, "blockOwnerDeletion", Bool),
];
const META: &[Field] = &[
    Field(1, "name", Str),
    Field(2, "generateName", Str),
    Field(3, "namespace", Str),
    Field(5, "uid", Str),
    Field(6, "resourceVersion", Str),
    Field(7, "generation", Int),
    Field(8, "creationTimestamp", Time),
    Field(11, "labels", MapStr),
    Field(12, "annotations", MapStr),
    Field(13, "ownerReferences", RepMsg(OWNER_REF)),
    Field(14, "finalizers", RepStr),
];
const CONFIG_MAP: &[Field] = &[
    Field(1, "metadata", Msg(META)),
    Field(2, "data", MapStr),
    Field(3, "binaryData", MapBytes),
    Field(4, "immutable", Bool),
];
const SECRET: &[Field] = &[
    Field(1, "metadata", Msg(META)),
    Field(2, "data", MapBytes),
    Field(3, "type", Str),
    Field(4, "stringData", MapStr),
    Field(5, "immutable", Bool),
];
const NAMESPACE: &[Field] = &[
    Field(1, "metadata", Msg(META)),
    Field(2, "spec", Msg(&[Field(1, "finalizers", RepStr)])),
];
const LOCAL_REF: &[Field] = &[Field(1, "name", Str)];
const SERVICE_ACCOUNT: &[Field] = &[
    Field(1, "metadata", Msg(META)),
    Field(3, "imagePullSecrets", RepMsg(LOCAL_REF)),
    Field(4, "automountServiceAccountToken", Bool),
];
const RESOURCE_ATTRS: &[Field] = &[
    Field(1, "namespace", Str),
    Field(2, "verb", Str),
    Field(3, "group", Str),
    Field(4, "version", Str),
    Field(5, "resource", Str),
    Field(6, "subresource", Str),
    Field(7, "name", Str),
];
const NON_RESOURCE_ATTRS: &[Field] = &[Field(1, "path", Str), Field(2, "verb", Str)];
const SELF_REVIEW: &[Field] = &[
    Field(1, "metadata", Msg(META)),
    Field(
        2,
        "spec",
        Msg(&[
            Field(1, "resourceAttributes", Msg(RESOURCE_ATTRS)),
            Field(2, "nonResourceAttributes", Msg(NON_RESOURCE_ATTRS)),
        ]),
    ),
];
const SELF_RULES_REVIEW: &[Field] = &[
    Field(1, "metadata", Msg(META)),
    Field(2, "spec", Msg(&[Field(1, "namespace", Str)])),
];
const REVIEW: &[Field] = &[
    Field(1, "metadata", Msg(META)),
    Field(
        2,
        "spec",
        Msg(&[
            Field(1, "resourceAttributes", Msg(RESOURCE_ATTRS)),
            Field(2, "nonResourceAttributes", Msg(NON_RESOURCE_ATTRS)),
            Field(3, "user", Str),
            Field(4, "groups", RepStr),
            Field(6, "uid", Str),
        ]),
    ),
];
const POLICY_RULE: &[Field] = &[
    Field(1, "verbs", RepStr),
    Field(2, "apiGroups", RepStr),
    Field(3, "resources", RepStr),
    Field(4, "resourceNames", RepStr),
    Field(5, "nonResourceURLs", RepStr),
];
const ROLE: &[Field] = &[
    Field(1, "metadata", Msg(META)),
    Field(2, "rules", RepMsg(POLICY_RULE)),
];
const LABEL_SELECTOR: &[Field] = &[Field(1, "matchLabels", MapStr)];
const CLUSTER_ROLE: &[Field] = &[
    Field(1, "metadata", Msg(META)),
    Field(2, "rules", RepMsg(POLICY_RULE)),
    Field(
        3,
        "aggregationRule",
        Msg(&[Field(1, "clusterRoleSelectors", RepMsg(LABEL_SELECTOR))]),
    ),
];
const BINDING: &[Field] = &[
    Field(1, "metadata", Msg(META)),
    Field(
        2,
        "subjects",
        RepMsg(&[
            Field(1, "kind", Str),
            Field(2, "apiGroup", Str),
            Field(3, "name", Str),
            Field(4, "namespace", Str),
        ]),
    ),
    Field(
        3,
        "roleRef",
        Msg(&[
            Field(1, "apiGroup", Str),
            Field(2, "kind", Str),
            Field(3, "name", Str),
        ]),
    ),
];

fn schema(kind: &str) -> Option<&'static [Field]> {
    Some(match kind {
        "ConfigMap" => CONFIG_MAP,
        "Secret" => SECRET,
        "Namespace" => NAMESPACE,
        "ServiceAccount" => SERVICE_ACCOUNT,
        "SelfSubjectAccessReview" => SELF_REVIEW,
        "SelfSubjectRulesReview" => SELF_RULES_REVIEW,
        "SubjectAccessReview" => REVIEW,
        "Role" => ROLE,
        "ClusterRole" => CLUSTER_ROLE,
        "RoleBinding" | "ClusterRoleBinding" => BINDING,
        _ => return None,
    })
}

/// Whether a request content type is Kubernetes protobuf.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type.split(';').next().unwrap_or_default().trim() == MEDIA_TYPE
}

/// Decodes a protobuf body of `kind` into the JSON object it stands for.
pub fn decode(kind: &str, body: &[u8]) -> Result<Value, ApiError> {
    let unsupported = || {
        ApiError::unsupported_media_type(format!(
            "{kind} in protobuf is not supported by this platform (only ConfigMap, Secret, Namespace, ServiceAccount, \
             Role(Binding), ClusterRole(Binding) and access reviews are); send JSON, e.g. with kubectl apply -f"
        ))
    };
    let fields = schema(kind).ok_or_else(unsupported)?;
    let malformed =
        |what: &str| ApiError::bad_request(format!("malformed protobuf {kind} body: {what}"));
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| malformed("missing the k8s\\0 prefix"))?;
    let mut raw = None;
    let mut type_meta = Value::Null;
    for (num, wire) in FieldReader(envelope) {
        match (num, wire.map_err(malformed)?) {
            (1, Wire::Len(b)) => {
                type_meta = message(b, &[Field(1, "apiVersion", Str), Field(2, "kind", Str)])
                    .map_err(malformed)?
            }
            (2, Wire::Len(b)) => raw = Some(b),
            _ => {}
        }
    }
    let raw = raw.ok_or_else(|| malformed("no object in the envelope"))?;
    let mut obj = message(raw, fields).map_err(malformed)?;
    for k in ["apiVersion", "kind"] {
        if let Some(v) = type_meta.get(k) {
            obj[k] = v.clone();
        }
    }
    Ok(obj)
}

enum Wire<'a> {
    Varint(u64),
    Len(&'a [u8]),
    Fixed,
}

/// Iterates over `(field number, value)` of one message.
struct FieldReader<'a>(&'a [u8]);

fn varint(buf: &mut &[u8]) -> Result<u64, &'static str> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first().ok_or("truncated varint")?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("varint too long")
}

impl<'a> Iterator for FieldReader<'a> {
    type Item = (u64, Result<Wire<'a>, &'static str>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let key = match varint(&mut self.0) {
            Ok(k) => k,
            Err(e) => {
                self.0 = &[];
                return Some((0, Err(e)));
            }
        };
        let (num, wire_type) = (key >> 3, key & 7);
        let value = match wire_type {
            0 => varint(&mut self.0).map(Wire::Varint),
            2 => varint(&mut self.0).and_then(|len| {
                let len = usize::try_from(len).map_err(|_| "length overflows")?;
                if len > self.0.len() {
                    return Err("truncated field");
                }
                let (b, rest) = self.0.split_at(len);
                self.0 = rest;
                Ok(Wire::Len(b))
            }),
            1 | 5 => {
                let n = if wire_type == 1 { 8 } else { 4 };
                if n > self.0.len() {
                    Err("truncated fixed field")
                } else {
                    self.0 = &self.0[n..];
                    Ok(Wire::Fixed)
                }
            }
            _ => Err("unsupported wire type"),
        };
        if value.is_err() {
            self.0 = &[];
        }
        Some((num, value))
    }
}

fn utf8(b: &[u8]) -> Result<String, &'static str> {
    String::from_utf8(b.to_vec()).map_err(|_| "a string field is not UTF-8")
}

fn map_entry(b: &[u8], bytes_value: bool) -> Result<(String, Value), &'static str> {
    let (mut key, mut value) = (String::new(), json!(""));
    for (num, wire) in FieldReader(b) {
        if let (1 | 2, Wire::Len(v)) = (num, wire?) {
            if num == 1 {
                key = utf8(v)?;
            } else if bytes_value {
                value = json!(crate::admission::base64_encode(v));
            } else {
                value = json!(utf8(v)?);
            }
        }
    }
    Ok((key, value))
}

fn time(b: &[u8]) -> Result<Value, &'static str> {
    let mut seconds = 0i64;
    for (num, wire) in FieldReader(b) {
        if let (1, Wire::Varint(v)) = (num, wire?) {
            seconds = v as i64;
        }
    }
    let ts = jiff::Timestamp::from_second(seconds).map_err(|_| "timestamp out of range")?;
    Ok(json!(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

fn message(b: &[u8], fields: &'static [Field]) -> Result<Value, &'static str> {
    let mut out = Map::new();
    for (num, wire) in FieldReader(b) {
        let wire = wire?;
        let Some(Field(_, name, kind)) = fields.iter().find(|f| f.0 == num) else {
            continue;
        };
        let name = name.to_string();
        match (*kind, wire) {
            // Go omits empty strings from JSON (`omitempty`); so does this decoder.
            (Str, Wire::Len([])) => {}
            (Str, Wire::Len(v)) => {
                out.insert(name, json!(utf8(v)?));
            }
            (Int, Wire::Varint(v)) => {
                out.insert(name, json!(v as i64));
            }
            (Bool, Wire::Varint(v)) => {
                out.insert(name, json!(v != 0));
            }
            (Msg(inner), Wire::Len(v)) => {
                out.insert(name, message(v, inner)?);
            }
            (Time, Wire::Len(v)) => {
                out.insert(name, time(v)?);
            }
            (RepStr, Wire::Len(v)) => {
                let item = json!(utf8(v)?);
                out.entry(name)
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                    .expect("array")
                    .push(item);
            }
            (RepMsg(inner), Wire::Len(v)) => {
                let item = message(v, inner)?;
                out.entry(name)
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                    .expect("array")
                    .push(item);
            }
            (MapStr | MapBytes, Wire::Len(v)) => {
                let (k, val) = map_entry(v, matches!(kind, MapBytes))?;
                out.entry(name)
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .expect("object")
                    .insert(k, val);
            }
            _ => return Err("a field has an unexpected wire type"),
        }
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len_field(num: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![((num << 3) | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn decodes_a_config_map_envelope() {
        let meta = [
            len_field(1, b"cfg"),
            len_field(3, b"ns"),
            len_field(11, &[len_field(1, b"a"), len_field(2, b"b")].concat()),
        ]
        .concat();
        let data = len_field(2, &[len_field(1, b"k"), len_field(2, b"v")].concat());
        let raw = [len_field(1, &meta), data].concat();
        let tm = [len_field(1, b"v1"), len_field(2, b"ConfigMap")].concat();
        let body = [MAGIC.to_vec(), len_field(1, &tm), len_field(2, &raw)].concat();
        let obj = decode("ConfigMap", &body).unwrap();
        assert_eq!(
            obj,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "ns", "labels": {"a": "b"}}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn rejects_unsupported_kinds_and_garbage() {
        assert_eq!(decode("Pod", b"k8s\0").unwrap_err().code, 415);
        assert_eq!(decode("ConfigMap", b"nope").unwrap_err().code, 400);
        assert_eq!(
            decode("ConfigMap", b"k8s\0\x12\x09ab").unwrap_err().code,
            400
        );
    }
}
