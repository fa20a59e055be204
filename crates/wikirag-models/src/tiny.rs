//! A tiny random BERT in Hugging Face layout, for tests and benchmarks that must exercise model
//! loading without real weights.

use crate::{ModelError, Result};
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::bert::{BertModel, Config};
use std::path::Path;
use tokenizers::Tokenizer;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;

/// Writes a random 2-layer BERT (hidden size `dim`) with a WordPiece vocabulary made of
/// `words` (plus special tokens and single letters) into `dir`: `config.json`, `vocab.txt`,
/// `tokenizer.json`, `model.safetensors` and sentence-transformers pooling files.
/// The weights are the same on every call (seed 0): [`write_tiny_bert_seeded`] writes others.
pub fn write_tiny_bert(dir: &Path, dim: usize, words: &[&str], pooling_cls: bool) -> Result<()> {
    write_tiny_bert_seeded(dir, dim, words, pooling_cls, 0)
}

/// [`write_tiny_bert`] with weights drawn from `seed`: another seed, another model.
pub fn write_tiny_bert_seeded(
    dir: &Path,
    dim: usize,
    words: &[&str],
    pooling_cls: bool,
    seed: u64,
) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ModelError::Io { path, source }
    };
    std::fs::create_dir_all(dir.join("1_Pooling")).map_err(io(dir))?;
    let mut vocab: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for c in 'a'..='z' {
        vocab.push(c.to_string());
        vocab.push(format!("##{c}"));
    }
    for c in '0'..='9' {
        vocab.push(c.to_string());
    }
    for p in [".", ",", "?", "'", "-"] {
        vocab.push(p.to_string());
    }
    for w in words {
        let w = w.to_lowercase();
        if !vocab.contains(&w) {
            vocab.push(w);
        }
    }
    let vocab_path = dir.join("vocab.txt");
    std::fs::write(&vocab_path, vocab.join("\n") + "\n").map_err(io(&vocab_path))?;

    let bad = |e: Box<dyn std::error::Error + Send + Sync>| ModelError::BadFile {
        path: dir.join("tokenizer.json"),
        message: e.to_string(),
    };
    let wordpiece = WordPiece::from_file(&vocab_path.to_string_lossy())
        .unk_token("[UNK]".into())
        .build()
        .map_err(bad)?;
    let mut tokenizer = Tokenizer::new(wordpiece);
    tokenizer.with_normalizer(Some(BertNormalizer::new(true, true, None, true)));
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    tokenizer.with_post_processor(Some(BertProcessing::new(
        ("[SEP]".into(), 3),
        ("[CLS]".into(), 2),
    )));
    tokenizer
        .save(dir.join("tokenizer.json"), false)
        .map_err(bad)?;

    let config = serde_json::json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": vocab.len(),
        "hidden_size": dim,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": dim * 2,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "max_position_embeddings": 64,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0
    });
    let write_json = |name: &str, value: &serde_json::Value| -> Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(value).expect("json")).map_err(io(&path))
    };
    write_json("config.json", &config)?;
    write_json(
        "1_Pooling/config.json",
        &serde_json::json!({
            "word_embedding_dimension": dim,
            "pooling_mode_cls_token": pooling_cls,
            "pooling_mode_mean_tokens": !pooling_cls,
        }),
    )?;
    write_json(
        "sentence_bert_config.json",
        &serde_json::json!({"max_seq_length": 32}),
    )?;

    let config: Config = serde_json::from_value(config).map_err(|e| ModelError::BadFile {
        path: dir.join("config.json"),
        message: e.to_string(),
    })?;
    let weights = dir.join("model.safetensors");
    let candle = |e| ModelError::Candle {
        path: weights.clone(),
        source: e,
    };
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    BertModel::load(vb, &config).map_err(candle)?;
    make_deterministic(&varmap, seed).map_err(candle)?;
    varmap.save(&weights).map_err(candle)?;
    Ok(())
}

/// Candle's CPU generator cannot be seeded, so every call would write another model and a test
/// over its vectors would pass or fail by chance. Each randomly initialised tensor is redrawn
/// from a generator seeded by `seed` and its name: normal, mean 0, standard deviation 1/sqrt(its last
/// dimension) (the fan-in of a `[out, in]` weight, as candle's own initialisers scale);
/// constant tensors (layer-norm ones and zeros) stay as they are.
fn make_deterministic(varmap: &VarMap, seed: u64) -> candle_core::Result<()> {
    let vars = varmap.data().lock().expect("varmap lock");
    for (name, var) in vars.iter() {
        let values: Vec<f32> = var.flatten_all()?.to_vec1()?;
        if values.iter().all(|&v| v == values[0]) {
            continue;
        }
        let fan_in = var.dims().last().copied().unwrap_or(1).max(1);
        let std = 1.0 / (fan_in as f64).sqrt();
        let mut state = name.bytes().fold(0xcbf2_9ce4_8422_2325u64 ^ seed, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
        let mut uniform = move || {
            // splitmix64, mapped to (0, 1].
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64
        };
        let drawn: Vec<f32> = (0..values.len())
            .map(|_| {
                // Box-Muller.
                let (u, v) = (uniform(), uniform());
                (std * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
            })
            .collect();
        var.set(&candle_core::Tensor::from_vec(
            drawn,
            var.shape(),
            &Device::Cpu,
        )?)?;
    }
    Ok(())
}
