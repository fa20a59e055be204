#!/usr/bin/env python3
"""Reference sentence embeddings computed with sentence-transformers (PyTorch, CPU).

Run once after scripts/fetch-model.sh; the output is committed as
tests/data/minilm-reference.json, and a test checks candle's vectors against it (cosine ≥ 0.999).

    python3 -m venv /tmp/st && /tmp/st/bin/pip install sentence-transformers
    /tmp/st/bin/python scripts/reference-embeddings.py models/all-MiniLM-L6-v2
"""
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from sentence_transformers import SentenceTransformer  # noqa: E402

SENTENCES = [
    "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris.",
    "Alabama — Capital: Montgomery",
    "Who was the first man in space?",
    "Yuri Gagarin was a Soviet pilot and cosmonaut who became the first human to journey into outer space.",
    "Édith Cresson fut la première femme Première ministre en France, de 1991 à 1992.",
    "Albedo is the measure of the diffuse reflection of solar radiation out of the total solar radiation.",
    "x",
    # Longer than the model's 256-token limit: checks truncation.
    " ".join(["The economy of Estonia is an advanced economy and a member of the European Union."] * 40),
]

model_dir = sys.argv[1] if len(sys.argv) > 1 else "models/all-MiniLM-L6-v2"
out = sys.argv[2] if len(sys.argv) > 2 else "tests/data/minilm-reference.json"
model = SentenceTransformer(model_dir, device="cpu")
vectors = model.encode(SENTENCES, normalize_embeddings=True, batch_size=4)
with open(out, "w") as f:
    json.dump(
        {
            "model": os.path.basename(os.path.normpath(model_dir)),
            "tool": "sentence-transformers",
            "sentences": SENTENCES,
            "vectors": [[round(float(x), 6) for x in v] for v in vectors],
        },
        f,
    )
    f.write("\n")
print(f"wrote {out}: {len(SENTENCES)} vectors of {vectors.shape[1]}")
