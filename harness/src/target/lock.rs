//! An exclusive lock on a file in the state directory: parallel test processes share one kind
//! cluster, and provisioning it is serialised by this lock.

use anyhow::Context;

/// An exclusive lock on a file in the state directory, released on drop.
pub struct StateLock(std::fs::File);

impl StateLock {
    /// Takes the lock, creating the file and its folder if needed; blocks until it is free.
    pub fn acquire(path: &std::path::Path) -> anyhow::Result<StateLock> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        f.lock()
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(StateLock(f))
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Closing the file releases the lock as well; unlocking first just makes it explicit.
        let _ = self.0.unlock();
    }
}
