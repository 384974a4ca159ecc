//! The flows a Seldon v2 team runtime needs, and their static evaluation against NetworkPolicies.
