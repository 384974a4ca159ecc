//! kind clusters: create, reuse by fingerprint, recreate, keep or delete; image loading; log export.
