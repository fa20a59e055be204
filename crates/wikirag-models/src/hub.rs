//! Fetching a model from the Hugging Face Hub (feature `hub`), for users who are online.
//! Files land in the standard Hugging Face cache (`HF_HOME`, default `~/.cache/huggingface`), so
//! a later run, and Python tools, reuse them; the returned directory is a snapshot in the
//! repository's own layout, which [`crate::BertEmbedder::load`] reads like any local directory.

use crate::{ModelError, Result};
use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::{Repo, RepoType};
use std::path::PathBuf;

/// Where to fetch from.
#[derive(Clone, Debug, Default)]
pub struct HubOptions {
    /// Branch, tag or commit (default `main`).
    pub revision: Option<String>,
    /// Hub URL (default: `HF_ENDPOINT`, else `https://huggingface.co`).
    pub endpoint: Option<String>,
    /// Cache directory (default: `HF_HOME`, else `~/.cache/huggingface`).
    pub cache_dir: Option<PathBuf>,
}

/// Files a sentence-embedding model needs.
const REQUIRED: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
/// sentence-transformers files that say how to pool, truncate and prefix, when the repo has them.
const OPTIONAL: [&str; 3] = [
    "1_Pooling/config.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
];

/// Downloads (or finds in the cache) the files of `repo` ("owner/name") and returns the local
/// snapshot directory.
pub fn fetch_from_hub(repo: &str, options: &HubOptions) -> Result<PathBuf> {
    let hub_error = |message: String| ModelError::Hub {
        repo: repo.to_string(),
        message,
    };
    let mut builder = ApiBuilder::from_env().with_progress(false);
    if let Some(endpoint) = &options.endpoint {
        builder = builder.with_endpoint(endpoint.trim_end_matches('/').to_string());
    }
    if let Some(dir) = &options.cache_dir {
        builder = builder.with_cache_dir(dir.clone());
    }
    let api = builder.build().map_err(|e| hub_error(e.to_string()))?;
    let revision = options.revision.clone().unwrap_or_else(|| "main".into());
    let handle = api.repo(Repo::with_revision(
        repo.to_string(),
        RepoType::Model,
        revision,
    ));
    let mut snapshot = None;
    for file in REQUIRED {
        let path = handle
            .get(file)
            .map_err(|e| hub_error(format!("{file}: {}", describe(&e))))?;
        tracing::info!(repo, file, path = %path.display(), "model file ready");
        if file == "config.json" {
            snapshot = path.parent().map(PathBuf::from);
        }
    }
    let snapshot = snapshot.ok_or_else(|| hub_error("no snapshot directory".into()))?;
    for file in OPTIONAL {
        // A file the repository lacks is remembered, so a later run works offline.
        let absent = snapshot.join(format!(".absent.{}", file.replace('/', "__")));
        if snapshot.join(file).exists() || absent.exists() {
            continue;
        }
        match handle.get(file) {
            Ok(path) => tracing::info!(repo, file, path = %path.display(), "model file ready"),
            Err(e) if not_found(&e) => {
                tracing::debug!(repo, file, "not in the repository");
                std::fs::write(&absent, b"").map_err(|source| ModelError::Io {
                    path: absent.clone(),
                    source,
                })?;
            }
            Err(e) => return Err(hub_error(format!("{file}: {}", describe(&e)))),
        }
    }
    Ok(snapshot)
}

fn not_found(e: &ApiError) -> bool {
    matches!(e, ApiError::RequestError(r) if matches!(**r, ureq2::Error::Status(404, _)))
}

fn describe(e: &ApiError) -> String {
    if not_found(e) {
        "not in the repository (404)".into()
    } else {
        e.to_string()
    }
}
