//! The engine's error type.
//!
//! Broken internal invariants panic with a message; everything that can go wrong because of
//! input, configuration, I/O or the environment is an [`Error`].

use std::path::PathBuf;

/// Everything that can make a Rill job fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A row of a CSV input could not be parsed.
    #[error("{path}: line {line}, column {column} ({field}): {message}")]
    Csv {
        /// The input file.
        path: PathBuf,
        /// 1-based line number in the file (the header is line 1).
        line: u64,
        /// 1-based column (field) number.
        column: usize,
        /// Name of the column, from the record type's header.
        field: String,
        /// What was wrong.
        message: String,
    },
    /// A CSV input's header does not name the expected columns.
    #[error("{path}: line 1: expected header `{expected}`, found `{found}`")]
    CsvHeader {
        /// The input file.
        path: PathBuf,
        /// The header the record type expects.
        expected: String,
        /// The first line of the file.
        found: String,
    },
    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The job's configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A worker thread failed (panicked) while running the dataflow.
    #[error("worker failed: {0}")]
    Worker(String),
    /// A snapshot file (chunk data or manifest) is damaged: bad magic, checksum mismatch,
    /// truncation, or contents that disagree with the manifest.
    #[error("corrupt snapshot {path} at byte {offset}: {reason}")]
    CorruptSnapshot {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset in the file where the damage was found (the chunk's start for chunks).
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A snapshot file was written in a format version this build cannot read.
    #[error("{path}: snapshot format version {found}, this build reads up to {supported}")]
    SnapshotVersion {
        /// The file.
        path: PathBuf,
        /// The version found in the file.
        found: u32,
        /// The newest version this build supports.
        supported: u32,
    },
    /// No usable checkpoint exists in a snapshot directory.
    #[error("no usable checkpoint in {dir}: {reason}")]
    NoSnapshot {
        /// The snapshot directory.
        dir: PathBuf,
        /// Why each candidate was rejected, or that there were none.
        reason: String,
    },
    /// The snapshot writer's I/O thread has stopped (it panicked or was shut down).
    #[error("snapshot writer stopped: {0}")]
    SnapshotWriterStopped(String),
    /// A snapshot's state cannot be restored into this job: a state's kind or value type
    /// changed, or its bytes do not decode as that type.
    #[error("cannot restore state `{state}` of operator `{operator}`: {reason}")]
    IncompatibleState {
        /// The operator's name.
        operator: String,
        /// The state's name.
        state: String,
        /// What does not match.
        reason: String,
    },
}

impl Error {
    /// An I/O error with a description of what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }
}

/// Shorthand for results with Rill's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
