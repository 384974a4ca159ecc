//! Isolation checks: NetworkPolicy enforcement canary, connectivity probes, RBAC access reviews.
