//! `limit`/`continue` pagination of lists, as the API server does it: at most `limit` items, and
//! an opaque `metadata.continue` token when more remain (`remainingItemCount` only without
//! selectors). Items come in key order (namespace, name), as from etcd. The platform reads each
//! page from the current state, not from the first page's snapshot (a difference clients never
//! rely on); a token that does not decode is 400.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::store::ApiError;

fn key(o: &Value) -> String {
    format!(
        "{}/{}",
        o["metadata"]["namespace"].as_str().unwrap_or_default(),
        o["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// One page of `items` (already filtered): the items, the continue token and the remaining count.
pub(super) fn page(
    items: Vec<Value>,
    limit: Option<&String>,
    token: Option<&String>,
    rv: u64,
) -> Result<(Vec<Value>, Option<String>, usize), ApiError> {
    let start = match token.filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => {
            let decoded = STANDARD
                .decode(t)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|v| v["start"].as_str().map(str::to_string))
                .ok_or_else(|| {
                    ApiError::bad_request(format!("continue key is not valid: {t:?}"))
                })?;
            Some(decoded)
        }
    };
    let mut items: Vec<Value> = items;
    items.sort_by_key(key);
    if let Some(s) = &start {
        items.retain(|o| key(o).as_str() > s.as_str());
    }
    let limit = limit
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let Some(limit) = limit.filter(|l| items.len() > *l) else {
        return Ok((items, None, 0));
    };
    let rest = items.split_off(limit);
    let last = key(items.last().expect("limit > 0"));
    let token = STANDARD.encode(
        json!({"v": "meta.k8s.io/v1", "rv": rv, "start": last})
            .to_string()
            .as_bytes(),
    );
    Ok((items, Some(token), rest.len()))
}
