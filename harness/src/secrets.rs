//! Secret packages: dated tar.gz of kustomize overlays; safe extraction, rendering, checks, apply, pack.
