//! The fraud job (in progress).
