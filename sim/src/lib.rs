//! Embedded simulated platform: a loopback Kubernetes API subset that models documented
//! Kubernetes and Seldon Core v2 behaviour, with fault injection. A test double for the harness.

pub mod admission;
pub mod api;
pub mod artifact;
pub mod controllers;
pub mod dataplane;
pub mod faults;
pub mod network;
pub mod rbac;
pub mod seldon;
pub mod store;
