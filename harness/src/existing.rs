//! Existing clusters: context allow-listing and ownership guards for pre-upgrade validation.
