#!/usr/bin/env python3
"""sentence-transformers (PyTorch, CPU) throughput on a file of sentences, one JSON line.

Used by benches/compare-embeddings.sh; needs `pip install sentence-transformers`.
"""
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

model_dir, path, batch, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
lines = [l.strip() for l in open(path, encoding="utf-8") if l.strip()][:limit]
model = SentenceTransformer(model_dir, device="cpu")
model.encode(lines[:64], batch_size=batch)
start = time.perf_counter()
model.encode(lines, batch_size=batch, normalize_embeddings=True)
secs = time.perf_counter() - start
tok = model.tokenizer(lines, truncation=True, max_length=model.max_seq_length)["input_ids"]
print(json.dumps({
    "tool": "sentence-transformers",
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
    "sentences": len(lines),
    "batch": batch,
    "mean_tokens": sum(map(len, tok)) / len(tok),
    "seconds": secs,
    "sentences_per_s": len(lines) / secs,
}))
