//! Rendering every object a run would apply, without contacting a cluster.
