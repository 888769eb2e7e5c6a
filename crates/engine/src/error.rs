//! The engine's one error type.
//!
//! Errors are about input (scenario files, `--set` overrides, user and
//! curve CSV files) and say where the mistake is: file, line and column, or
//! the `--set` key, and what was expected. A phone failing a stage is not an
//! error: it is an outcome the recorder counts.

use std::path::PathBuf;

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong before or around a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A scenario file or override is not what the schema expects.
    /// `at` is `file: line L, column C` or `--set key`.
    #[error("{at}: {message}")]
    Scenario {
        /// Where: `file: line L, column C`, `file` or `--set key`.
        at: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// A CSV input (users, arrival curve) has a bad line.
    #[error("{}: line {line}: {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong and what is expected.
        message: String,
    },
    /// An arrival profile cannot produce a schedule (e.g. a rate of zero
    /// forever with phones still to arrive).
    #[error("arrival: {0}")]
    Schedule(String),
    /// A threshold or abort rule cannot be understood.
    #[error("{key}: {message}")]
    Threshold {
        /// The threshold's key, e.g. `register.p99`.
        key: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// The run could not be set up: the embedded mock would not start,
    /// the phones' configuration is impossible, a given file is unusable.
    #[error("{0}")]
    Setup(String),
    /// A report file (JSON, HTML, HdrHistogram log) cannot be read,
    /// understood or written.
    #[error("{}: {message}", path.display())]
    ReportFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An HdrHistogram interval log could not be encoded or decoded.
    #[error("hdr log: {0}")]
    HdrLog(String),
}
