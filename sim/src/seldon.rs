//! Documented Seldon Core v2 control-plane behaviour: runtimes, servers, model scheduling.
