//! Quota checks: pods rejected for missing limits, runtimes admitted with limits, exhausted quotas.
