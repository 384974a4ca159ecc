//! Kubernetes name rules (RFC 1123), names for objects a run creates, and version numbers: the
//! small rules every layer needs, depending on nothing.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An RFC 1123 label: at most 63 lowercase letters, digits and '-', starting and ending with a
/// letter or digit (namespace names, label values the harness writes, Service names).
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// An RFC 1123 subdomain: dot-separated labels, at most 253 characters (most object names).
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// A label value: empty, or at most 63 letters, digits, '-', '_', '.', starting and ending with a
/// letter or digit.
pub fn is_label_value(v: &str) -> bool {
    v.len() <= 63
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && (v.is_empty()
            || (v.starts_with(|c: char| c.is_ascii_alphanumeric())
                && v.ends_with(|c: char| c.is_ascii_alphanumeric())))
}

/// A label (or annotation) key: `[prefix/]name`, the prefix a subdomain, the name a non-empty
/// label value.
pub fn is_label_key(k: &str) -> bool {
    let (prefix, name) = k.rsplit_once('/').map_or((None, k), |(a, b)| (Some(a), b));
    !name.is_empty() && is_label_value(name) && prefix.is_none_or(is_dns_subdomain)
}

static NAME_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique object name for something a check creates: `<parts>-<run suffix>-<n>`, at most 63
/// characters, RFC 1123.
pub fn object_name(parts: &[&str], run_id: &str) -> String {
    let n = NAME_COUNTER.fetch_add(1, Ordering::Relaxed);
    let suffix: String = run_id
        .chars()
        .rev()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<String>()
        .to_ascii_lowercase();
    let tail = format!("-{suffix}-{n}");
    let mut head: String = parts
        .join("-")
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    head.truncate(63 - tail.len());
    let head = head.trim_matches('-');
    format!("{head}{tail}")
}

/// A `major.minor.patch` version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
}

impl Version {
    /// A version from its parts.
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// Parses `v1.2.3`, `1.2.3`, `1.2`, with any `-pre`/`+build` suffix ignored.
    pub fn parse(token: &str) -> Option<Self> {
        let t = token.trim().trim_start_matches('v');
        let core = t.split(['+', '-']).next()?;
        let mut parts = core.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Self::new(major, minor, patch))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_rfc_1123() {
        for ok in ["a", "financial-ml", "0abc", &"a".repeat(63)] {
            assert!(is_dns_label(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
        assert!(is_dns_subdomain("models.mlops.seldon.io"));
        assert!(!is_dns_subdomain("models..io"));
        assert!(is_label_key("app.kubernetes.io/managed-by") && is_label_key("team"));
        assert!(!is_label_key("a/b/c") && !is_label_key("Bad_Prefix/x") && !is_label_key(""));
        assert!(is_label_value("") && is_label_value("A_b.c") && !is_label_value("a b"));
    }

    #[test]
    fn object_names_are_labels_and_unique() {
        let a = object_name(&["caps", "Mlserver_X"], "r20260101-000000-abcd");
        let b = object_name(&["caps", "Mlserver_X"], "r20260101-000000-abcd");
        assert!(is_dns_label(&a), "{a}");
        assert_ne!(a, b);
        let long = object_name(&["x".repeat(100).as_str()], "run");
        assert!(long.len() <= 63 && is_dns_label(&long), "{long}");
    }

    #[test]
    fn versions_parse() {
        assert_eq!(Version::parse("v1.33.4"), Some(Version::new(1, 33, 4)));
        assert_eq!(Version::parse("2.9"), Some(Version::new(2, 9, 0)));
        assert_eq!(Version::parse("1.2.3-rc.1"), Some(Version::new(1, 2, 3)));
        assert_eq!(Version::parse("latest"), None);
    }
}
