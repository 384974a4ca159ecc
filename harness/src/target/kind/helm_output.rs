//! Reading helm's documented outputs: `helm status -o json`, `helm list -o json`, and what its
//! error texts mean.

use serde::Deserialize;

use crate::tools;

/// The state of a helm release, from `helm status -o json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseStatus {
    /// Release name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Revision.
    pub revision: i64,
    /// `deployed`, `failed`, `pending-upgrade`, …
    pub status: String,
    /// Chart name.
    pub chart: String,
    /// Chart version.
    pub chart_version: String,
    /// App version.
    pub app_version: String,
    /// Helm's description of the last operation.
    pub description: String,
}

/// Parses `helm status <release> -o json` (Helm 3 `release.Release`; user values are ignored).
pub fn parse_helm_status(json: &str) -> Result<ReleaseStatus, String> {
    #[derive(Deserialize)]
    struct Rel {
        name: String,
        #[serde(default)]
        namespace: String,
        #[serde(default)]
        version: i64,
        info: Info,
        chart: Chart,
    }
    #[derive(Deserialize)]
    struct Info {
        status: String,
        #[serde(default)]
        description: String,
    }
    #[derive(Deserialize)]
    struct Chart {
        metadata: Meta,
    }
    #[derive(Deserialize)]
    struct Meta {
        name: String,
        version: String,
        #[serde(default, rename = "appVersion")]
        app_version: String,
    }
    let r: Rel = serde_json::from_str(json).map_err(|e| e.to_string())?;
    Ok(ReleaseStatus {
        name: r.name,
        namespace: r.namespace,
        revision: r.version,
        status: r.info.status,
        chart: r.chart.metadata.name,
        chart_version: r.chart.metadata.version,
        app_version: r.chart.metadata.app_version,
        description: r.info.description,
    })
}

/// One row of `helm list -o json`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ReleaseListEntry {
    /// Release name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Revision (a string in helm's output).
    pub revision: String,
    /// Last update time as helm prints it.
    pub updated: String,
    /// Status.
    pub status: String,
    /// `<chart>-<version>`.
    pub chart: String,
    /// App version.
    pub app_version: String,
}

impl ReleaseListEntry {
    /// The chart version part of `chart` (`seldon-core-v2-setup-2.9.1` → `2.9.1`).
    pub fn chart_version(&self) -> Option<&str> {
        let (_, v) = self.chart.rsplit_once('-')?;
        tools::Version::parse(v).map(|_| v)
    }
}

/// Parses `helm list -o json` (Helm 3 `pkg/cmd/list.go` releaseElement).
pub fn parse_helm_list(json: &str) -> Result<Vec<ReleaseListEntry>, String> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(json).map_err(|e| e.to_string())
}

/// What a helm error text means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelmFailure {
    /// `chart "X" version "V" not found in URL repository` or `chart "X" matching V not found in R index`.
    ChartVersionNotFound {
        /// Chart.
        chart: String,
        /// Version.
        version: String,
        /// Repository name or URL.
        repo: String,
    },
    /// The API server could not be reached.
    ClusterUnreachable,
    /// `--wait` ran out of time.
    WaitTimedOut,
    /// A previous operation on the release never finished.
    OperationInProgress,
    /// The release does not exist.
    ReleaseNotFound,
    /// The chart repository URL does not serve an index.
    RepoUnreachable,
    /// Anything else.
    Other,
}

/// Classifies helm's stderr.
pub fn classify_helm_error(stderr: &str) -> HelmFailure {
    let text = tools::strip_ansi(stderr);
    if let Some(f) = parse_chart_not_found(&text) {
        return f;
    }
    if text.contains("Kubernetes cluster unreachable") {
        HelmFailure::ClusterUnreachable
    } else if text.contains("another operation (install/upgrade/rollback) is in progress") {
        HelmFailure::OperationInProgress
    } else if text.contains("context deadline exceeded")
        || text.contains("timed out waiting for the condition")
    {
        HelmFailure::WaitTimedOut
    } else if text.contains("release: not found") {
        HelmFailure::ReleaseNotFound
    } else if text.contains("is not a valid chart repository or cannot be reached") {
        HelmFailure::RepoUnreachable
    } else {
        HelmFailure::Other
    }
}

fn quoted_after<'a>(text: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
    let start = text.find(marker)? + marker.len();
    let rest = &text[start..];
    let end = rest.find('"')?;
    Some((&rest[..end], &rest[end + 1..]))
}

fn parse_chart_not_found(text: &str) -> Option<HelmFailure> {
    for line in text.lines() {
        let Some((chart, rest)) = quoted_after(line, "chart \"") else {
            continue;
        };
        // Form 1 (--repo URL): chart "X" version "V" not found in URL repository
        if let Some(r) = rest.strip_prefix(" version \"") {
            let (version, rest) = r.split_once('"')?;
            let repo = rest
                .strip_prefix(" not found in ")?
                .trim_end()
                .trim_end_matches(" repository");
            return Some(HelmFailure::ChartVersionNotFound {
                chart: chart.to_string(),
                version: version.to_string(),
                repo: repo.to_string(),
            });
        }
        // Form 2 (repo/chart from the local index): chart "X" matching V not found in R index. ...
        if let Some(r) = rest.strip_prefix(" matching ") {
            let (version, rest) = r.split_once(" not found in ")?;
            let repo = rest.split(" index").next()?.trim();
            return Some(HelmFailure::ChartVersionNotFound {
                chart: chart.to_string(),
                version: version.trim_matches('"').to_string(),
                repo: repo.to_string(),
            });
        }
    }
    None
}
