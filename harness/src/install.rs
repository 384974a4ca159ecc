//! Seldon Core v2 installation with Helm, version-pinned, controller cluster-wide; upgrades.
