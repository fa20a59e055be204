#!/usr/bin/env python3
"""Local generation speed, wikirag (candle) beside llama.cpp (llama-cpp-python), same GGUF,
same prompt, same threads: load time, prompt and generation tokens/s, peak RSS.

    scripts/fetch-smollm2.sh
    cargo build --release -p wikirag-llm --example gguf_probe
    PY -m pip install llama-cpp-python      # compiles llama.cpp for this CPU (minutes)
    PY benches/llm-speed.py models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
        target/release/examples/gguf_probe [PROMPT_WORDS] [GEN]

PROBE_ENGINE=candle in the environment measures candle's llama instead of ours.
"""
import json
import resource
import subprocess
import sys
import time

model, probe = sys.argv[1], sys.argv[2]
words = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
gen = int(sys.argv[4]) if len(sys.argv) > 4 else 64
threads = 2

# wikirag: the probe prints one JSON line.
out = subprocess.run([probe, model, str(words), str(gen)], capture_output=True, text=True, check=True)
ours = json.loads(out.stdout.strip().splitlines()[-1])

# llama.cpp on the same prompt (the same text as the probe builds).
from llama_cpp import Llama  # noqa: E402

base = ("The Seine is a river in northern France. It flows through Paris and reaches "
        "the English Channel at Le Havre. Its drainage basin covers much of the Paris "
        "Basin, and its tributaries include the Marne, the Oise and the Yonne. ")
context = ""
while len(context.split()) < words:
    context += base
t0 = time.perf_counter()
llm = Llama(model_path=model, n_ctx=4096, n_threads=threads, n_threads_batch=threads,
            n_batch=512, verbose=False)
load = time.perf_counter() - t0
messages = [{"role": "system", "content": "Answer from the sources, briefly."},
            {"role": "user", "content": context + "\nWhere does the Seine reach the sea?"}]
llm.create_chat_completion(messages=[{"role": "user", "content": "Hi"}], max_tokens=2, temperature=0)
llm.reset()
t0 = time.perf_counter()
first = None
n = 0
text = ""
for chunk in llm.create_chat_completion(messages=messages, max_tokens=gen, temperature=0,
                                        stream=True):
    delta = chunk["choices"][0]["delta"].get("content")
    if delta:
        n += 1
        text += delta
        if first is None:
            first = time.perf_counter()
end = time.perf_counter()
theirs = {
    "engine": "llama.cpp",
    "load_s": round(load, 2),
    "prompt_tokens": ours["prompt_tokens"],
    "prompt_tok_s": round(ours["prompt_tokens"] / (first - t0), 1),
    "generated": n,
    "gen_tok_s": round((n - 1) / (end - first), 1) if n > 1 else None,
    "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "text": text,
}
for r in (ours, theirs):
    print(json.dumps(r, ensure_ascii=False))
ratio_p = ours["prompt_tok_s"] / theirs["prompt_tok_s"]
ratio_g = ours["gen_tok_s"] / theirs["gen_tok_s"] if theirs["gen_tok_s"] else float("nan")
print(f"wikirag / llama.cpp: prompt {ratio_p:.2f}x, generation {ratio_g:.2f}x")
