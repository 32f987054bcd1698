//! The user-facing APIs: the stream API (key_by / window / aggregate), sources, and process
//! functions.

pub mod aggregate;
pub mod process;
pub mod sources;
pub mod stream;
