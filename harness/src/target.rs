//! Target selection: the embedded platform, a kind cluster, or an existing cluster. The only module that names the embedded platform.
