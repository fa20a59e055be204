#!/usr/bin/env python3
"""Fewer vectors: a vector per sentence against a vector per window of sentences (issue 32, part 2).

For one standard corpus (a language's sample + vital leads) and its question sets, embeds with
wikirag's own passage pass (the `embed-throughput` bench binary, int8 products as `wikirag index`)
every sentence as the index does ("Title: sentence"), and every window of W consecutive sentences
of a page ("Title: s1 s2 …", non-overlapping), and the questions as queries. Then, per question:

- dense: exact cosine over the sentence vectors (what wikirag stores today), or over the window
  vectors with each window's sentences ranked inside it by the question's words (IDF-weighted
  overlap, a stand-in for the BM25 list the searcher already has) — the hit and the citation
  stay a sentence;
- hybrid: that dense list fused with wikirag's own BM25 list (`wikirag search --mode bm25`,
  top 100) as the searcher fuses them (min-max per list, dense weight 0.6), at most 3 hits per
  page, duplicates by text removed.

Relevance as `wikirag eval`: a hit whose normalised text contains an expected answer. Exact
search on both sides, so the graph plays no part in the comparison.

    python3 benches/windows/study.py --index /tmp/std/fr-e5 --lang fr \
        --model models/multilingual-e5-small-q4 --windows 1,2,3,4 --work /tmp/windows-fr

Prints one JSON line per (set, unit, mode) and a Markdown table.
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys
import unicodedata

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WIKI = os.environ.get("WIKIRAG_SHARED_WIKI", os.path.join(ROOT, "..", "shared", "data", "wiki"))
DUMPS = {
    "en": ["enwiki-2016-gensim-pages-articles1-p10p30302-shortened.xml.bz2", "enwiki-vital10k-leads.xml.bz2"],
    "fr": ["frwiki-2022-maain-first22pages.xml", "frwiki-vital10k-leads.xml.bz2"],
}
SETS = {"en": ["enwiki-vital", "enwiki-2016"], "fr": ["frwiki-vital", "frwiki-2022"]}
DENSE_WEIGHT = 0.6
CANDIDATES = 100
PER_PAGE = 3
K = 10


def normalize(s):
    """wikirag_eval::normalize: NFD, combining marks dropped, lower case, apostrophes folded."""
    s = "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c)).lower()
    s = s.replace("\u2019", "'").replace("\u2018", "'").replace("\u02bc", "'")
    s = s.replace("\u00a0", " ").replace("\u202f", " ")
    return " ".join(s.split())


def dedupe_key(text):
    return " ".join(w.lower() for w in re.split(r"[^\w]+", text) if w)


def words(text):
    return [w for w in re.split(r"[^\w]+", normalize(text)) if len(w) > 1]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def extract(lang, bin_dir, cache):
    """Pages in dump order: (page_id, title, [(ordinal, kind, text)]). Kept in the work directory
    beside the vectors, whose rows follow it (`extract` with several cleaning threads writes
    pages in the order they are cleaned: one thread here, so a rerun finds the same order)."""
    if os.path.exists(cache):
        return [(p, t, [tuple(s) for s in ss]) for p, t, ss in json.load(open(cache))]
    pages = []
    for dump in DUMPS[lang]:
        out = run([os.path.join(bin_dir, "wikirag"), "extract", "--json", "-q", "-j", "1",
                   os.path.join(WIKI, dump)])
        for line in out.splitlines():
            a = json.loads(line)
            sents = [(s["ordinal"], s["kind"], s["text"].replace("\n", " ")) for s in a["sentences"]]
            if sents:
                pages.append((a["page_id"], a["title"], sents))
    json.dump(pages, open(cache, "w"))
    return pages


def passage(title, kind, text):
    """indexer::embed::passage_text."""
    return text if kind == "fact" else f"{title}: {text}"


def embed(texts, path, model, bin_dir, role="passage"):
    if not os.path.exists(path):
        lines = path + ".txt"
        with open(lines, "w") as f:
            for t in texts:
                t = " ".join(t.split())
                f.write((t or "-") + "\n")
        run([os.path.join(bin_dir, "embed-throughput"), "--model", model, "--sentences", lines,
             "--batch", "8", "--workers", "0", "--role", role, "--out", path])
    v = np.fromfile(path, dtype="<f4")
    return v.reshape(len(texts), -1)


def bm25_lists(index, questions, bin_dir, cache):
    if os.path.exists(cache):
        return json.load(open(cache))
    lists = []
    for q in questions:
        out = run([os.path.join(bin_dir, "wikirag"), "search", "--index", index, "--mode", "bm25",
                   "--json", "-k", str(CANDIDATES), "--per-page", "0", q])
        hits = json.loads(out)["hits"]
        lists.append([[h["page_id"], h["sentence"], h["score"], h["title"], h["text"]] for h in hits])
    json.dump(lists, open(cache, "w"))
    return lists


def minmax(pairs):
    if not pairs:
        return {}
    scores = [s for _, s in pairs]
    lo, hi = min(scores), max(scores)
    out = {}
    for key, s in pairs:
        if key not in out:
            out[key] = (s - lo) / (hi - lo) if hi > lo else 1.0
    return out


def final(ranked, text_of, page_of):
    """Per-page cap, duplicates by text removed, top K keys."""
    per_page, seen, out = {}, set(), []
    for key in ranked:
        page = page_of(key)
        if per_page.get(page, 0) >= PER_PAGE:
            continue
        dk = (page, dedupe_key(text_of(key)))
        if dk in seen:
            continue
        per_page[page] = per_page.get(page, 0) + 1
        seen.add(dk)
        out.append(key)
        if len(out) == K:
            break
    return out


def window_list(cos, members, qwords, sent_words, idf):
    """The dense list of sentences from window scores: each window's sentences get its score,
    ranked inside it by the question's words (IDF-weighted overlap), then by order."""
    dense = []
    for u in np.argsort(-cos)[:CANDIDATES]:
        inner = sorted(members[u], key=lambda i: (-sum(idf(x) for x in qwords & sent_words[i]), i))
        for rank, i in enumerate(inner):
            dense.append((i, float(cos[u]) - 1e-6 * rank))
        if len(dense) >= CANDIDATES:
            break
    return dense[:CANDIDATES]


def keep_tops(got, lists, r, text_of, page_of):
    """The fused top K with each list's first `r` hits (after the same cap and dedupe) kept:
    a missing one takes the place of the lowest fused hit that no list protects."""
    protected = []
    for lst in lists:
        for i in final(lst, text_of, page_of)[:r]:
            if i not in protected:
                protected.append(i)
    got = list(got)
    keys = {(page_of(i), dedupe_key(text_of(i))) for i in got}
    for i in protected:
        if i in got or (page_of(i), dedupe_key(text_of(i))) in keys:
            continue
        for j in range(len(got) - 1, -1, -1):
            if got[j] not in protected:
                keys.discard((page_of(got[j]), dedupe_key(text_of(got[j]))))
                got[j] = i
                keys.add((page_of(i), dedupe_key(text_of(i))))
                break
    # Keep the fused order among the survivors, protected newcomers last.
    return got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", required=True)
    ap.add_argument("--lang", required=True, choices=["en", "fr"])
    ap.add_argument("--model", required=True)
    ap.add_argument("--windows", default="1,2,3,4")
    ap.add_argument("--work", required=True)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release"))
    ap.add_argument("--keep", default="", help="also fuse keeping each list's top R: R1,R2,…")
    ap.add_argument("--mix", type=float, default=0.0,
                    help="also score a sentence by its vector + MIX · its window's (needs window 1)")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)

    pages = extract(args.lang, args.bin, os.path.join(args.work, "corpus.json"))
    sentences = []  # (page_no, ordinal, title, kind, text)
    for p, (pid, title, sents) in enumerate(pages):
        for o, kind, text in sents:
            sentences.append((p, o, title, kind, text))
    print(f"{len(pages)} pages, {len(sentences)} sentences", file=sys.stderr)
    # Document frequencies for ranking a window's sentences by the question's words.
    df = {}
    sent_words = []
    for s in sentences:
        ws = set(words(s[4]))
        sent_words.append(ws)
        for w in ws:
            df[w] = df.get(w, 0) + 1
    n_sent = len(sentences)
    idf = lambda w: math.log(1 + n_sent / (1 + df.get(w, 0)))
    # The BM25 hits name (page id, ordinal, title): map them to our sentence numbers.
    by_key = {}
    for i, (p, o, title, _, _) in enumerate(sentences):
        by_key.setdefault((pages[p][0], o, title), i)

    windows = [int(w) for w in args.windows.split(",")]
    units = {}
    for w in windows:
        members = []  # window -> sentence numbers
        i = 0
        while i < n_sent:
            p = sentences[i][0]
            j = i
            while j < n_sent and sentences[j][0] == p and j - i < w:
                j += 1
            members.append(list(range(i, j)))
            i = j
        if w == 1:
            texts = [passage(s[2], s[3], s[4]) for s in sentences]
        else:
            texts = [
                f"{sentences[m[0]][2]}: " + " ".join(sentences[i][4] for i in m) for m in members
            ]
        vecs = embed(texts, os.path.join(args.work, f"w{w}.f32"), args.model, args.bin)
        units[w] = (members, vecs)
        print(f"window {w}: {len(members)} vectors", file=sys.stderr)

    text_of = lambda i: sentences[i][4]
    page_of = lambda i: sentences[i][0]
    results = []
    for set_name in SETS[args.lang]:
        qa = [json.loads(l) for l in open(os.path.join(ROOT, "tests", "eval", f"{set_name}.jsonl"))]
        questions = [q["question"] for q in qa]
        qv = embed(questions, os.path.join(args.work, f"{set_name}.q.f32"), args.model, args.bin, "query")
        lex = bm25_lists(args.index, questions, args.bin, os.path.join(args.work, f"{set_name}.bm25.json"))
        for w in windows:
            members, vecs = units[w]
            member_of = {}
            for u, m in enumerate(members):
                for i in m:
                    member_of[i] = u
            member_arr = np.array([member_of[i] for i in range(n_sent)])
            keeps = [int(r) for r in args.keep.split(",") if r]
            modes = ["dense", "hybrid"] + [f"hybrid-keep{r}" for r in keeps]
            if args.mix and w > 1 and 1 in units:
                # A sentence scored by its own vector plus its window's (both stored).
                modes += ["mix-dense", "mix-hybrid"]
            for mode in modes:
                r1 = r10 = mrr = 0.0
                for q, v, hits in zip(qa, qv, lex):
                    answers = [normalize(a) for a in q["answers"]]
                    cos = vecs @ v
                    if mode.startswith("mix"):
                        comb = units[1][1] @ v + args.mix * cos[member_arr]
                        dense = [(int(i), float(comb[i])) for i in np.argsort(-comb)[:CANDIDATES]]
                    else:
                        dense = window_list(cos, members, set(words(q["question"])), sent_words, idf)
                    bm = [(by_key[(h[0], h[1], h[3])], h[2]) for h in hits if (h[0], h[1], h[3]) in by_key]
                    sub = mode[4:] if mode.startswith("mix") else mode
                    if sub == "dense":
                        ranked = [i for i, _ in dense]
                    else:
                        scores = {}
                        for lst, wt in [(bm, 1 - DENSE_WEIGHT), (dense, DENSE_WEIGHT)]:
                            for i, s in minmax(lst).items():
                                scores[i] = scores.get(i, 0.0) + wt * s
                        ranked = sorted(scores, key=lambda i: (-scores[i], page_of(i), i))
                    got = final(ranked, text_of, page_of)
                    if sub.startswith("hybrid-keep"):
                        got = keep_tops(got, [[i for i, _ in bm], [i for i, _ in dense]],
                                        int(sub[len("hybrid-keep"):]), text_of, page_of)
                    rel = [any(a in normalize(text_of(i)) for a in answers) for i in got]
                    if rel and rel[0]:
                        r1 += 1
                    if any(rel):
                        r10 += 1
                        mrr += 1 / (rel.index(True) + 1)
                n = len(qa)
                row = {
                    "set": set_name, "window": w, "mode": mode, "questions": n,
                    "vectors": len(members), "vectors_per_article": len(members) / len(pages),
                    "recall@1": r1 / n, "recall@10": r10 / n, "mrr": mrr / n,
                }
                results.append(row)
                print(json.dumps(row))
    print("\n| set | sentences a vector | vectors (per article) | dense R@1 / R@10 / MRR | hybrid R@1 / R@10 / MRR |")
    print("|---|---|---|---|---|")
    for set_name in SETS[args.lang]:
        for w in windows:
            d = next(r for r in results if r["set"] == set_name and r["window"] == w and r["mode"] == "dense")
            h = next(r for r in results if r["set"] == set_name and r["window"] == w and r["mode"] == "hybrid")
            print(f"| {set_name} | {w} | {d['vectors']} ({d['vectors_per_article']:.2f}) | "
                  f"{d['recall@1']:.3f} / {d['recall@10']:.3f} / {d['mrr']:.3f} | "
                  f"{h['recall@1']:.3f} / {h['recall@10']:.3f} / {h['mrr']:.3f} |")


if __name__ == "__main__":
    main()
