//! Package file names: `<namespace>-<purpose>-secrets-YYYYMMDD.tar.gz`, as the seed's
//! infrastructure team delivers them.

use super::error::SecretsError;
use crate::names::is_dns_label;

/// A parsed package file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageName {
    /// The namespace it is for.
    pub namespace: String,
    /// What it is for, e.g. `models`.
    pub purpose: String,
    /// `YYYYMMDD`.
    pub date: String,
}

fn valid_date(d: &str) -> bool {
    d.len() == 8
        && d.bytes().all(|b| b.is_ascii_digit())
        && jiff::civil::Date::strptime("%Y%m%d", d).is_ok()
}

impl PackageName {
    /// A name from parts, checked.
    pub fn new(namespace: &str, purpose: &str, date: &str) -> Result<Self, SecretsError> {
        if !is_dns_label(namespace) {
            return Err(SecretsError::Invalid(format!(
                "namespace `{namespace}` is not a valid namespace name (lowercase letters, digits, '-')"
            )));
        }
        if !is_dns_label(purpose) {
            return Err(SecretsError::Invalid(format!(
                "purpose `{purpose}` must be lowercase letters, digits and '-', e.g. `models` or `ml`"
            )));
        }
        if !valid_date(date) {
            return Err(SecretsError::Invalid(format!(
                "date `{date}` is not a date written YYYYMMDD, e.g. 20250704"
            )));
        }
        Ok(Self {
            namespace: namespace.into(),
            purpose: purpose.into(),
            date: date.into(),
        })
    }

    /// `<namespace>-<purpose>-secrets-YYYYMMDD.tar.gz`.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-secrets-{}.tar.gz",
            self.namespace, self.purpose, self.date
        )
    }

    /// Parses a file name for a namespace (the namespace disambiguates: both parts may hold '-').
    pub fn parse(file_name: &str, namespace: &str) -> Result<Self, SecretsError> {
        let bad = || SecretsError::NotAPackageName {
            name: file_name.into(),
            namespace: namespace.into(),
        };
        let stem = file_name.strip_suffix(".tar.gz").ok_or_else(bad)?;
        let (head, date) = stem.rsplit_once("-secrets-").ok_or_else(bad)?;
        let purpose = head
            .strip_prefix(namespace)
            .and_then(|p| p.strip_prefix('-'))
            .ok_or_else(bad)?;
        Self::new(namespace, purpose, date).map_err(|_| bad())
    }

    /// Midnight UTC of the date, as a Unix time (the mtime of packed entries).
    /// The modification time packed files get (the package date, so packing is reproducible).
    pub fn mtime(&self) -> u64 {
        jiff::civil::Date::strptime("%Y%m%d", &self.date)
            .ok()
            .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map_or(0, |z| z.timestamp().as_second().max(0) as u64)
    }
}

/// Today's date (UTC) as `YYYYMMDD`.
pub fn today() -> String {
    jiff::Timestamp::now().strftime("%Y%m%d").to_string()
}
