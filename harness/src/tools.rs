//! The one place that runs external commands (kind, helm, kubectl kustomize, docker), built on duct.
