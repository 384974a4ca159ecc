//! Reaching a namespace's `seldon-mesh` from the host on real clusters through the API server.
