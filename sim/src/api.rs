//! The Kubernetes REST API subset over HTTP: discovery, CRUD, patch, apply, status, watch, errors.
