//! Keeping secret values out of every message: the values of a Secret, and their removal from
//! text (server errors, logs, reports). Base64 as Kubernetes encodes Secret `data`.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use serde_json::Value;

/// Replaces every occurrence of each secret string with `<redacted>`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        // Very short values (e.g. "1") would shred ordinary text; they cannot identify a secret anyway.
        if s.len() >= 4 {
            out = out.replace(s.as_str(), "<redacted>");
        }
    }
    out
}

/// The values of a Secret given as JSON (`data` base64 and decoded, `stringData`), for redaction.
pub fn secret_values(obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if obj["kind"] != "Secret" {
        return out;
    }
    // A value may be a whole config file (rclone): its lines and `key: value` parts are secrets too.
    let text_value = |v: &str, out: &mut Vec<String>| {
        out.push(v.to_string());
        for line in v.lines() {
            out.push(line.trim().to_string());
            if let Some((_, rest)) = line.split_once([':', '=']) {
                out.push(rest.trim().trim_matches(['"', '\'', ',']).to_string());
            }
        }
    };
    if let Some(data) = obj["data"].as_object() {
        for v in data.values().filter_map(Value::as_str) {
            out.push(v.to_string());
            if let Some(decoded) = decode_base64(v).and_then(|b| String::from_utf8(b).ok()) {
                text_value(&decoded, &mut out);
            }
        }
    }
    if let Some(data) = obj["stringData"].as_object() {
        for v in data.values().filter_map(Value::as_str) {
            text_value(v, &mut out);
        }
    }
    out.retain(|s| !s.is_empty());
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}
/// Standard base64 (RFC 4648, with or without padding, whitespace ignored); `None` if it is not
/// base64.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT.decode(compact).ok()
}

/// Standard base64 with padding.
pub fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base64_round_trips() {
        for s in [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "minioadmin",
            "\u{1f600} secret",
        ] {
            let e = encode_base64(s.as_bytes());
            assert_eq!(decode_base64(&e).unwrap(), s.as_bytes(), "{s}");
        }
        assert_eq!(encode_base64(b"minioadmin"), "bWluaW9hZG1pbg==");
        assert_eq!(decode_base64("bWluaW9hZG1pbg").unwrap(), b"minioadmin");
        assert!(decode_base64("not base64!").is_none());
    }

    #[test]
    fn redacts_secret_values_from_server_messages() {
        let s = json!({"kind": "Secret", "stringData": {"s3": "type: s3\nsecret_access_key: hunter2-very-secret\n"},
            "data": {"k": encode_base64(b"plain-password")}});
        let values = secret_values(&s);
        let msg = "admission denied: value hunter2-very-secret and plain-password and cGxhaW4tcGFzc3dvcmQ=";
        assert!(values.contains(&"hunter2-very-secret".to_string()));
        let out = redact(msg, &values);
        assert!(!out.contains("hunter2"), "{out}");
        assert!(!out.contains("plain-password"), "{out}");
        assert!(!out.contains("cGxhaW4tcGFzc3dvcmQ="), "{out}");
        assert!(out.starts_with("admission denied"));
    }
}
