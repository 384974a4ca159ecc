//! Admission as Kubernetes does it: namespace lifecycle, LimitRange defaults, ResourceQuota.
