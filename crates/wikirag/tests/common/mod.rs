//! What the CLI tests share: the binary, the bundled sample, and a bare HTTP/1.1 client.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `wikirag` binary built for these tests.
pub fn wikirag(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wikirag"))
        .args(args)
        .output()
        .expect("run wikirag")
}

/// A file of the bundled sample (`data/sample/NAME`).
pub fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/sample")
        .join(name)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One request on its own connection: (status, body).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))?;
    match body {
        Some(body) => write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?,
        None => write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        )?,
    }
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let code = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    Ok((code, body))
}

/// `wikirag serve` on `index`: the address it listens on, and its stderr lines as they come.
pub fn serve(
    index: &Path,
    extra: &[&str],
) -> (
    std::process::Child,
    String,
    std::sync::mpsc::Receiver<String>,
) {
    serve_env(index, extra, &[])
}

/// [`serve`] with variables set in the server's environment.
pub fn serve_env(
    index: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (
    std::process::Child,
    String,
    std::sync::mpsc::Receiver<String>,
) {
    use std::io::BufRead;
    let mut server = Command::new(env!("CARGO_BIN_EXE_wikirag"))
        .args([
            "serve",
            "--index",
            index.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
        ])
        .args(extra)
        .envs(env.iter().copied())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(server.stderr.take().unwrap()).lines();
    let first = lines
        .by_ref()
        .map_while(|l| l.ok())
        .find(|l| l.contains("http://"))
        .expect("the server says where it listens");
    let addr = first.rsplit("http://").next().unwrap().trim().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(|l| l.ok()) {
            let _ = tx.send(line);
        }
    });
    (server, addr, rx)
}
