#!/usr/bin/env bash
# Real OpenAI-compatible software nobody here wrote, on loopback, both ways:
#
# 1. client: `wikirag ask --llm openai` against llama.cpp's server (llama-cpp-python) serving
#    SmolLM2-135M-Instruct at --n_ctx 2048 and 512, on every question of data/sample, without
#    telling wikirag the window: every question must be answered (exit 0), never with an
#    empty answer, and every citation must name a source that was sent;
# 2. server: the official `openai` Python client against `wikirag serve`: models.list(),
#    chat.completions.create plain and streamed.
#
# Needs a Python with llama-cpp-python[server] and openai (PY=/path/to/python; installing
# llama-cpp-python compiles llama.cpp: minutes). Not a CI step.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PY:-python3}
"$py" -c "import llama_cpp.server, openai" || { echo "needs: $py -m pip install 'llama-cpp-python[server]' openai" >&2; exit 2; }
scripts/fetch-smollm2.sh >/dev/null
model=models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
cargo build --release -q -p wikirag
bin=target/release/wikirag
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
$bin index data/sample/enwiki-sample.xml data/sample/frwiki-sample.xml --out "$work/idx" -q

wait_for() { for _ in $(seq 100); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "no answer from $1" >&2; exit 1; }

for n_ctx in 2048 512; do
  port=$((8700 + RANDOM % 200))
  "$py" -m llama_cpp.server --model "$model" --n_ctx "$n_ctx" --port "$port" --n_threads 2 >"$work/server-$n_ctx.log" 2>&1 &
  pids+=($!)
  wait_for "http://127.0.0.1:$port/v1/models"
  ok=0; total=0; retries=0; uncited=0; bad=0
  while IFS= read -r line; do
    q=$(printf '%s' "$line" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["question"])')
    total=$((total + 1))
    if out=$($bin ask --index "$work/idx" --llm openai --base-url "http://127.0.0.1:$port/v1" \
          --model smollm2 --answer-tokens 128 --json "$q" 2>"$work/err"); then
      read -r r u b e < <(printf '%s' "$out" | "$py" -c '
import json, sys
a = json.load(sys.stdin)
sent = {s["n"] for s in a["evidence"]}
bad = sum(c["n"] not in sent for c in a["citations"])
print(a["retries"], int(a["uncited"]), bad, int(not a["answer"].strip()))')
      ok=$((ok + 1 - e)); retries=$((retries + r)); uncited=$((uncited + u)); bad=$((bad + b))
    else
      echo "  FAILED: $q: $(tail -1 "$work/err")"
    fi
  done < data/sample/questions.jsonl
  echo "llama.cpp n_ctx $n_ctx: $ok/$total answered (non-empty, exit 0), $retries context retries, $uncited uncited, $bad citations of unsent sources"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
done

# 2. The official openai client against wikirag serve (extractive backend).
port=$((8900 + RANDOM % 90))
$bin serve --index "$work/idx" --addr "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$port/health"
"$py" - "$port" <<'PY'
import sys
from openai import OpenAI
c = OpenAI(base_url=f"http://127.0.0.1:{sys.argv[1]}/v1", api_key="unused")
models = [m.id for m in c.models.list()]
assert models == ["wikirag"], models
r = c.chat.completions.create(model="wikirag", messages=[{"role": "user", "content": "Who was the first woman Prime Minister of France?"}])
text = r.choices[0].message.content
assert "Cresson" in text and "Sources:" in text, text
pieces = [ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
    model="wikirag", stream=True,
    messages=[{"role": "user", "content": "Who was the first woman Prime Minister of France?"}]) if ch.choices]
assert "Cresson" in "".join(pieces), pieces
print(f"openai client {__import__('openai').__version__} against wikirag serve: models.list, create, create(stream=True): ok")
PY
