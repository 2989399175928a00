//! Library errors. The binary maps them to exit codes (2 for input errors).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file that cannot be read at all: missing, corrupt, wrong header.
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    /// A catalog that fails to load or validate.
    #[error("catalog: {0}")]
    Catalog(String),
    /// Bad configuration or command-line values.
    #[error("config: {0}")]
    Config(String),
    /// Writing outputs failed.
    #[error("output {path}: {message}")]
    Output { path: PathBuf, message: String },
    #[error(transparent)]
    Polars(#[from] polars::error::PolarsError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Error {
        Error::Input {
            path: path.into(),
            message: message.into(),
        }
    }
}
