//! The one wait primitive: a watch-based condition with a deadline that explains itself on timeout.
