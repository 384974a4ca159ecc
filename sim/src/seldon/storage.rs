//! How Seldon's agent reports a model download that failed (docs/seldon-behaviour.md §12): the
//! exact text it sends the scheduler, which becomes the Model's `ModelReady` reason. Shared with
//! `harness/tests/storage_path.rs`, which drives real rclone and a real S3 API the way the agent
//! does and asserts that these texts are what the agent would report for what real rclone did.

/// The agent's rclone server as the Server pod runs it (`--rclone-host`, `--rclone-port` defaults).
pub const RCLONE_HOST: &str = "0.0.0.0";
/// See [`RCLONE_HOST`].
pub const RCLONE_PORT: u16 = 5572;
/// Where the agent has rclone copy artifacts (`--agent-folder` default + `rclone`).
pub const RCLONE_DIR: &str = "/mnt/agent/rclone";

/// The versioned model name the agent downloads for (`util.GetVersionedModelName`).
pub fn versioned_model(model: &str, version: u32) -> String {
    format!("{model}_{version}")
}

/// The folder rclone copies into: `<dir>/<fnv32a(versioned model + "-" + storageUri)>`
/// (`CreateRcloneModelHash` in `scheduler/pkg/agent/rclone/rclone.go`).
pub fn copy_destination(dir: &str, versioned_model: &str, storage_uri: &str) -> String {
    format!(
        "{dir}/{}",
        fnv1a32(&format!("{versioned_model}-{storage_uri}"))
    )
}

/// 32-bit FNV-1a (Go's `hash/fnv` `New32a`).
fn fnv1a32(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5, |h: u32, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// rclone's `/sync/copy` answered with an error status (missing bucket, wrong credentials, a
/// remote the config lacks): the agent discards rclone's error body and reports only this.
pub fn sync_copy_failed(storage_uri: &str, destination: &str, host: &str, port: u16) -> String {
    format!(
        "failed to sync/copy {storage_uri} to {destination}: Failed rclone request to host:{host} port:{port} path:/sync/copy"
    )
}

/// rclone copied nothing (an existing bucket without the path): `/sync/copy` succeeds, the
/// destination folder does not exist, and the agent reports this.
pub fn nothing_downloaded(storage_uri: &str) -> String {
    format!("Failed to download from {storage_uri} any files")
}

/// The Model's storage Secret names another remote than the storageUri scheme (checked by the
/// agent before calling rclone, `createUriWithConfig`).
pub fn remote_name_mismatch(uri_scheme: &str, secret_remote: &str) -> String {
    format!(
        "name from URI ({uri_scheme}) does not match secret ({secret_remote}); are you using the right storage config?"
    )
}

/// What real rclone 1.60 says (in the rclone container's log and its `/sync/copy` error body)
/// for the failures above; the agent does not pass it on.
pub mod rclone_says {
    /// A storageUri whose scheme names no configured remote, e.g. the preloaded Secret's `name`
    /// is not the scheme (HTTP 500 from `/sync/copy`).
    pub const NOT_IN_CONFIG: &str = "didn't find section in config file";
    /// A bucket that does not exist (HTTP 404 from `/sync/copy`).
    pub const DIRECTORY_NOT_FOUND: &str = "directory not found";
    /// A secret key that does not match the access key (HTTP 500, S3 status 403).
    pub const SIGNATURE_DOES_NOT_MATCH: &str = "SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided. Check your key and signing method.";
    /// An access key the store does not know (HTTP 500, S3 status 403).
    pub const INVALID_ACCESS_KEY_ID: &str =
        "InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records.";
    /// A path with no objects under an existing bucket (`/sync/copy` succeeds, HTTP 200).
    pub const NOTHING_TO_TRANSFER: &str = "There was nothing to transfer";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_is_fnv1a_of_model_and_uri() {
        // Published FNV-1a 32 test vectors.
        assert_eq!(fnv1a32("a"), 0xe40c_292c);
        assert_eq!(fnv1a32("foobar"), 0xbf9c_f968);
        assert_eq!(
            copy_destination("/d", "m_1", "s3://b/p"),
            format!("/d/{}", fnv1a32("m_1-s3://b/p"))
        );
        assert_eq!(versioned_model("credit-risk", 1), "credit-risk_1");
    }
}
