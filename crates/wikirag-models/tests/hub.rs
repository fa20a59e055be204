//! `fetch_from_hub` against a local server that speaks the Hub's file protocol
//! (`/{repo}/resolve/{revision}/{file}`, range requests, `ETag` / `X-Repo-Commit` headers).
#![cfg(feature = "hub")]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use wikirag_core::{Embedder, Pooling, TextRole};
use wikirag_models::{BertEmbedder, EmbedderOptions, HubOptions, fetch_from_hub, write_tiny_bert};

/// Serves the files under `root` as repository `repo` at revision `main`, one request per
/// connection; returns the endpoint URL.
fn serve(root: PathBuf, repo: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut range_start = None;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    range_start = Some(v.trim().to_string());
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("");
            let prefix = format!("/{repo}/resolve/main/");
            let file = path.strip_prefix(&prefix).map(|f| root.join(f));
            let response = match file.and_then(|f| std::fs::read(f).ok()) {
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
                Some(bytes) => {
                    let (start, end) = match range_start.as_deref() {
                        Some("0-0") => (0, 0),
                        Some(r) => (r.trim_end_matches('-').parse().unwrap(), bytes.len() - 1),
                        None => (0, bytes.len() - 1),
                    };
                    let etag = path.replace(['/', '.'], "_");
                    let mut head = format!(
                        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{end}/{}\r\nETag: \"{etag}\"\r\nX-Repo-Commit: 0123456789abcdef0123456789abcdef01234567\r\nConnection: close\r\n\r\n",
                        end + 1 - start,
                        bytes.len()
                    )
                    .into_bytes();
                    head.extend_from_slice(&bytes[start..=end]);
                    head
                }
            };
            stream.write_all(&response).unwrap();
        }
    });
    url
}

fn options(endpoint: String, cache: &Path) -> HubOptions {
    HubOptions {
        endpoint: Some(endpoint),
        cache_dir: Some(cache.to_path_buf()),
        ..HubOptions::default()
    }
}

#[test]
fn fetches_a_model_that_then_loads_offline() {
    let source = tempfile::tempdir().unwrap();
    write_tiny_bert(source.path(), 16, &["paris", "rome"], true).unwrap();
    let endpoint = serve(source.path().to_path_buf(), "acme/tiny");
    let cache = tempfile::tempdir().unwrap();

    let dir = fetch_from_hub("acme/tiny", &options(endpoint, cache.path())).unwrap();
    assert!(dir.starts_with(cache.path()), "{}", dir.display());
    let fetched = BertEmbedder::load(&dir, &EmbedderOptions::default()).unwrap();
    // The optional pooling file came too: the model says CLS, not the mean fallback.
    assert_eq!(fetched.info().pooling, Pooling::Cls);
    assert_eq!(fetched.info().name, "acme/tiny");
    let local = BertEmbedder::load(source.path(), &EmbedderOptions::default()).unwrap();
    assert_eq!(fetched.info().weights_sha256, local.info().weights_sha256);
    assert_eq!(
        fetched.embed(&["paris"], TextRole::Passage).unwrap(),
        local.embed(&["paris"], TextRole::Passage).unwrap()
    );

    // Offline (nothing listens there): everything comes from the cache, absent files included.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    assert_eq!(
        fetch_from_hub("acme/tiny", &options(dead, cache.path())).unwrap(),
        dir
    );
}

#[test]
fn a_missing_repository_is_a_clear_error() {
    let source = tempfile::tempdir().unwrap();
    let endpoint = serve(source.path().to_path_buf(), "acme/tiny");
    let cache = tempfile::tempdir().unwrap();
    let err = fetch_from_hub("acme/nothing", &options(endpoint, cache.path()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("acme/nothing") && err.contains("config.json") && err.contains("404"),
        "{err}"
    );
}
