//! Workload controllers: StatefulSets and Deployments create pods; failures become events.
