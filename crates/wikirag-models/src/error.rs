use std::path::PathBuf;

/// Errors loading or running a model; each names the model directory or file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{}: {reason}", path.display())]
    NotAModel { path: PathBuf, reason: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    BadFile { path: PathBuf, message: String },
    #[error("{}: unsupported {what}", path.display())]
    Unsupported { path: PathBuf, what: String },
    #[error("{}: tokenizer: {message}", path.display())]
    Tokenize { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Run { path: PathBuf, message: String },
    #[error("Hugging Face Hub, {repo}: {message}")]
    Hub { repo: String, message: String },
    #[error("{}: {source}", path.display())]
    Candle {
        path: PathBuf,
        source: candle_core::Error,
    },
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
