//! Deterministic workloads for Rill: every event is a pure function of a seed and its index.
