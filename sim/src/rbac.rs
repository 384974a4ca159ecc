//! RBAC evaluation for SubjectAccessReview and SelfSubjectAccessReview.
