//! The API server's version, the range the harness supports, and what changes between versions
//! that the checks must allow for (docs/targets.md, "Supported Kubernetes versions").

use kube::Client;

/// Oldest Kubernetes minor the harness supports: the real apiserver CI runs setup against (1.20.2).
pub const OLDEST_SUPPORTED: u32 = 20;
/// Newest Kubernetes minor the harness is tested on (kind's node image).
pub const NEWEST_TESTED: u32 = 33;
/// Seldon Core 2.10's documented range ("Kubernetes 1.27 to 1.31", Kubernetes Installation).
pub const SELDON_RANGE: (u32, u32) = (27, 31);

/// A `1.<minor>` server version as `/version` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerVersion {
    /// The minor version (`"20+"` on some managed clusters reads as 20).
    pub minor: u32,
    /// `gitVersion`, e.g. `v1.20.2`.
    pub git_version: String,
}

impl ServerVersion {
    /// Reads `/version`.
    pub async fn read(client: &Client) -> Result<ServerVersion, String> {
        let info = client
            .apiserver_version()
            .await
            .map_err(|e| format!("cannot read the API server's version (/version): {e}"))?;
        ServerVersion::parse(&info.major, &info.minor, &info.git_version)
    }

    /// From `/version`'s `major`, `minor` and `gitVersion`.
    pub fn parse(major: &str, minor: &str, git_version: &str) -> Result<ServerVersion, String> {
        let digits = |s: &str| {
            s.trim_end_matches('+')
                .parse::<u32>()
                .map_err(|_| format!("the API server reports version {major:?}.{minor:?} ({git_version}), which is not a number"))
        };
        if digits(major)? != 1 {
            return Err(format!(
                "the API server reports Kubernetes {git_version} (major {major}); the harness supports 1.{OLDEST_SUPPORTED} to 1.{NEWEST_TESTED}"
            ));
        }
        Ok(ServerVersion {
            minor: digits(minor)?,
            git_version: git_version.to_string(),
        })
    }

    /// Refuses a server older than the harness supports; otherwise a one-line statement of the
    /// version and the supported range, with a note when it is outside what was tested or outside
    /// Seldon's own range.
    pub fn check(&self) -> Result<String, String> {
        let range = format!(
            "the harness supports Kubernetes 1.{OLDEST_SUPPORTED} to 1.{NEWEST_TESTED}; Seldon Core 2.10 documents 1.{} to 1.{}",
            SELDON_RANGE.0, SELDON_RANGE.1
        );
        if self.minor < OLDEST_SUPPORTED {
            return Err(format!(
                "the API server runs Kubernetes {}, older than the harness supports ({range})",
                self.git_version
            ));
        }
        let mut line = format!("API server {} ({range})", self.git_version);
        if self.minor > NEWEST_TESTED {
            line.push_str("; this version is newer than the harness was tested on");
        }
        if self.minor < SELDON_RANGE.0 || self.minor > SELDON_RANGE.1 {
            line.push_str("; outside Seldon's documented range: its controller may not work here");
        }
        Ok(line)
    }

    /// Whether the quota's `must specify` names the containers (`limits.cpu for: c`): since 1.24
    /// (kubernetes PR #107210); before, `must specify limits.cpu,limits.memory`.
    pub fn quota_names_containers(&self) -> bool {
        self.minor >= 24
    }

    /// Whether the StatefulSet controller writes status when creating a pod fails: since 1.25
    /// (kubernetes PR #109694); before, such a StatefulSet never gets `observedGeneration`.
    pub fn statefulset_status_on_failed_create(&self) -> bool {
        self.minor >= 25
    }

    /// The part of an expected quota message this server says: before 1.24 `must specify
    /// limits.cpu for: scheduler` is said `must specify limits.cpu` (resources joined by `,`).
    pub fn quota_message(&self, expected: &str) -> String {
        if self.quota_names_containers() {
            return expected.to_string();
        }
        let Some(at) = expected.find("must specify ") else {
            return expected.to_string();
        };
        let (head, rest) = expected.split_at(at + "must specify ".len());
        let resources: Vec<&str> = rest
            .split("; ")
            .map(|part| part.split_once(" for: ").map_or(part, |(r, _)| r))
            .collect();
        format!("{head}{}", resources.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(minor: &str) -> ServerVersion {
        ServerVersion::parse("1", minor, &format!("v1.{minor}.0")).unwrap()
    }

    #[test]
    fn quota_wording_follows_the_version() {
        let expected = "must specify limits.cpu for: scheduler";
        assert_eq!(v("20").quota_message(expected), "must specify limits.cpu");
        assert_eq!(
            v("23").quota_message(
                "failed quota: q: must specify limits.cpu for: a,b; limits.memory for: a"
            ),
            "failed quota: q: must specify limits.cpu,limits.memory"
        );
        assert_eq!(v("24").quota_message(expected), expected);
        assert_eq!(v("33").quota_message("exceeded quota"), "exceeded quota");
        assert!(!v("24").statefulset_status_on_failed_create());
        assert!(v("25").statefulset_status_on_failed_create());
    }

    #[test]
    fn the_supported_range_is_stated_and_enforced() {
        let line = v("20").check().unwrap();
        assert!(line.contains("1.20 to 1.33"), "{line}");
        assert!(line.contains("outside Seldon's documented range"), "{line}");
        assert!(!v("30").check().unwrap().contains("outside"));
        assert!(
            v("19")
                .check()
                .unwrap_err()
                .contains("older than the harness supports")
        );
        assert_eq!(v("20+").minor, 20);
        assert!(ServerVersion::parse("2", "0", "v2.0.0").is_err());
    }
}
