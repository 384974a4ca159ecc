//! Kubernetes name and label syntax (RFC 1123 labels and subdomains, selector keys), checked in one place.

/// The API server's message for a name that is not a lowercase RFC 1123 label.
pub const DNS1123_LABEL_MESSAGE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";

/// The API server's message for a name that is not a lowercase RFC 1123 subdomain.
pub const DNS1123_SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

/// A lowercase RFC 1123 label: 1–63 of `[a-z0-9-]`, not starting or ending with `-`.
pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A lowercase RFC 1123 subdomain: at most 253 characters of dot-separated labels.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// A label key in a selector. Deliberately lenient (characters only, not the full qualified-name
/// rule): a key nobody could have set simply selects nothing, as long as it parses.
pub fn is_selector_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

/// The ServiceAccount every namespace gets, and the one a pod that names none runs as.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
