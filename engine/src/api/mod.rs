//! The user-facing APIs: the stream API (key_by / window / aggregate) and process functions.
