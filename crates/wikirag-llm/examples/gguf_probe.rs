//! Speed of a local GGUF: load time, prompt and generation tokens/s, peak RSS.
//!
//!   cargo run --release -p wikirag-llm --example gguf_probe -- MODEL.gguf [PROMPT_WORDS] [GEN]
//!
//! The prompt is the chat template around a text of about PROMPT_WORDS words (default 1,000,
//! ≈ 1.5 k tokens); GEN tokens are generated greedily (default 64). One JSON line on stdout.
//! `PROBE_ENGINE=candle` runs the file on candle instead of our llama forward pass.
use std::time::Instant;
use wikirag_core::{ChatMessage, Llm, LlmRequest};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: gguf_probe MODEL.gguf [PROMPT_WORDS] [GEN]");
    let words: usize = args
        .next()
        .map_or(1000, |w| w.parse().expect("PROMPT_WORDS"));
    let max_new: usize = args.next().map_or(64, |g| g.parse().expect("GEN"));
    let t0 = Instant::now();
    let mut config = wikirag_llm::LocalConfig::new(&path);
    if std::env::var("PROBE_ENGINE").as_deref() == Ok("candle") {
        config.engine = wikirag_llm::LocalEngine::Candle;
    }
    let model = wikirag_llm::LocalGguf::load(&config).unwrap_or_else(|e| panic!("{e}"));
    let load = t0.elapsed().as_secs_f64();
    let base = "The Seine is a river in northern France. It flows through Paris and reaches \
                the English Channel at Le Havre. Its drainage basin covers much of the Paris \
                Basin, and its tributaries include the Marne, the Oise and the Yonne. ";
    let mut context = String::new();
    while context.split_whitespace().count() < words {
        context.push_str(base);
    }
    let messages = vec![
        ChatMessage::new("system", "Answer from the sources, briefly."),
        ChatMessage::new(
            "user",
            format!("{context}\nWhere does the Seine reach the sea?"),
        ),
    ];
    let request = LlmRequest {
        messages,
        max_tokens: max_new,
        temperature: 0.0,
        stop: Default::default(),
    };
    // A warm-up with a short prompt (first-touch of the weights), then the measured run.
    let warm = LlmRequest {
        messages: vec![ChatMessage::new("user", "Hi")],
        max_tokens: 2,
        temperature: 0.0,
        stop: Default::default(),
    };
    model
        .complete(&warm, &mut |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    let c = model
        .complete(&request, &mut |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    let p = c.prompt_tokens.unwrap_or(0);
    let g = c.completion_tokens.unwrap_or(0);
    let ps = c.prompt_seconds.unwrap_or(f64::NAN);
    let gs = c.generation_seconds.unwrap_or(f64::NAN);
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .unwrap_or_default();
    println!(
        "{{\"engine\": \"wikirag {}\", \"load_s\": {load:.2}, \"prompt_tokens\": {p}, \"prompt_tok_s\": {:.1}, \
         \"generated\": {g}, \"gen_tok_s\": {:.1}, \"peak_rss_kb\": {rss}, \"text\": {:?}}}",
        model.engine_name(),
        p as f64 / ps,
        g.saturating_sub(1) as f64 / gs,
        c.text
    );
}
