//! Writes a small random BERT for benchmarks where the model's speed is not what is measured
//! (update against rebuild at a million sentences): its vocabulary is the most frequent words
//! of a text file, so a sentence is about as many tokens as words.
//!
//! cargo run --release -p wikirag-benches --bin tiny-model -- --out /tmp/tiny --vocab-from dump.xml

use anyhow::{Context, Result};
use clap::Parser;
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

#[derive(Parser, Debug)]
struct Args {
    #[arg(long)]
    out: PathBuf,
    /// Plain text or XML whose first 32 MiB give the vocabulary.
    #[arg(long)]
    vocab_from: PathBuf,
    #[arg(long, default_value_t = 5000)]
    vocab: usize,
    #[arg(long, default_value_t = 64)]
    dim: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut text = String::new();
    std::fs::File::open(&args.vocab_from)
        .with_context(|| format!("opening {}", args.vocab_from.display()))?
        .take(32 << 20)
        .read_to_string(&mut text)
        .context("reading the vocabulary source (plain UTF-8 expected)")?;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for word in text
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| w.len() > 1)
    {
        *counts.entry(word.to_lowercase()).or_default() += 1;
    }
    let mut words: Vec<(String, usize)> = counts.into_iter().collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    words.truncate(args.vocab);
    let words: Vec<&str> = words.iter().map(|(w, _)| w.as_str()).collect();
    wikirag_models::write_tiny_bert(&args.out, args.dim, &words, false)?;
    println!(
        "wrote a {}-dim random BERT with {} words to {}",
        args.dim,
        words.len(),
        args.out.display()
    );
    Ok(())
}
