//! Sentence embeddings and the lookups dense retrieval needs, as traits: the candle model and
//! the vector index live in their own crates.

use crate::Hit;
use serde::{Deserialize, Serialize};

/// The error type of trait objects that cross crate boundaries.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// How token vectors become one sentence vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Average of the token vectors under the attention mask (sentence-transformers' default).
    Mean,
    /// The first (`[CLS]`) token's vector (bge and others).
    Cls,
}

impl Pooling {
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
        }
    }
}

/// Whether a text is a query or a passage: models such as e5 and bge want different prefixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextRole {
    Query,
    Passage,
}

/// What identifies an embedding model: two indexes (or an index and a query) agree only when
/// all of it agrees. Recorded in the index manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// A readable name (the model directory's name).
    pub name: String,
    pub dim: usize,
    pub pooling: Pooling,
    /// Unit-length output vectors.
    pub normalized: bool,
    /// Longest input in tokens; longer texts are truncated.
    pub max_tokens: usize,
    /// SHA-256 of the weights file, hex.
    pub weights_sha256: String,
    #[serde(default)]
    pub query_prefix: String,
    #[serde(default)]
    pub passage_prefix: String,
}

/// What was embedded, in words: all sentences, or the first N of each page.
pub fn embed_scope(embed_first: Option<u64>) -> String {
    match embed_first {
        None => "all sentences".into(),
        Some(n) => format!("the first {n} sentences of each page"),
    }
}

/// `embed_first` from the words older indexes recorded instead (`"scope": "the first N
/// sentences of each page"`; both the manifest and `vectors/meta.json` did): read once, when
/// such a record is opened.
pub fn legacy_embed_first(scope: &str) -> Option<u64> {
    scope
        .strip_prefix("the first ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl ModelInfo {
    /// Why `other` cannot be used with vectors made by `self`, if it cannot.
    pub fn mismatch(&self, other: &ModelInfo) -> Option<String> {
        let mut diffs = Vec::new();
        if self.weights_sha256 != other.weights_sha256 {
            diffs.push(format!(
                "weights {} vs {}",
                short(&self.weights_sha256),
                short(&other.weights_sha256)
            ));
        }
        if self.dim != other.dim {
            diffs.push(format!("dimension {} vs {}", self.dim, other.dim));
        }
        if self.pooling != other.pooling {
            diffs.push(format!(
                "pooling {} vs {}",
                self.pooling.name(),
                other.pooling.name()
            ));
        }
        if self.query_prefix != other.query_prefix || self.passage_prefix != other.passage_prefix {
            diffs.push("query/passage prefixes differ".to_string());
        }
        (!diffs.is_empty()).then(|| diffs.join(", "))
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// A sentence-embedding model.
pub trait Embedder: Send + Sync {
    fn info(&self) -> &ModelInfo;

    /// One vector of `info().dim` floats per text, in the order given.
    fn embed(&self, texts: &[&str], role: TextRole) -> Result<Vec<Vec<f32>>, BoxError>;

    /// The arithmetic passages are embedded with ("f32", "int8"), recorded with the vectors so
    /// an update embeds its new passages the same way.
    fn passage_precision(&self) -> &'static str {
        "f32"
    }
}

/// Fetches stored sentences by position: how a vector hit (a row naming a page and a sentence)
/// becomes a [`Hit`] with text, title, section and URL.
pub trait SentenceLookup: Send + Sync {
    /// The sentences at `(page_id, ordinal)`, in the order asked, with `context` neighbouring
    /// sentences on each side. A position that does not exist is an error.
    fn fetch(&self, positions: &[(u64, u32)], context: usize) -> Result<Vec<Hit>, BoxError>;
}
