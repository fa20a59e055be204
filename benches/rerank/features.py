# A second-stage scorer over the hybrid top 5 from hand-made features (the two lists' ranks,
# question words in the sentence and its title, lead sentence, named page, answer type: a year
# for "when", a number for "how many", a new name for "who"), a linear model trained per
# question (softmax over its 5 candidates) and measured on the set it was NOT trained on
# (leave one set out, then one language out). Input: the JSON of collect.py.
#
#     python3 benches/rerank/collect.py /tmp/rr.json en:8301,8302,8303:tests/eval/enwiki-vital.jsonl …
#     python3 benches/rerank/features.py /tmp/rr.json
import json, unicodedata, re, math, collections, sys
import numpy as np
def norm(s):
    s = unicodedata.normalize("NFD", s)
    return "".join(c for c in s if not unicodedata.combining(c)).lower()
rows = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "/tmp/rr.json"))
def rel(h, ans):
    t = norm(h["text"]); return any(a in t for a in ans)
def key(h): return (h["page_id"], h["sentence"])
WORD = re.compile(r"\w+")
STOP = set("what which when where who whom whose how many much does did was were is are the and for from with that this into of in on at by to a an it its his her their quel quelle quels quelles est sont qui que quoi dont dans pour par avec une des les du de la le un sur aux au ce cette comment combien quand ou où".split())
def stems(s):
    return {w[:5] for w in WORD.findall(norm(s)) if len(w) >= 4 and w not in STOP}
YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")
NUM = re.compile(r"\d")
def qtype(q):
    n = norm(q)
    if re.search(r"\b(when|what year|which year|in which year|quand|quelle annee|en quelle annee)\b", n): return "year"
    if re.search(r"\b(how many|how much|how tall|how long|how high|how far|how old|how big|combien|quelle distance|quelle hauteur|quelle taille|quelle longueur)\b", n): return "num"
    if re.search(r"^(who|whom|qui)\b|\b(who|qui) ", n): return "who"
    return "other"
NK = 5
def feats(r, h, i, top):
    q = r["q"]["question"]; qs = stems(q)
    bm = {key(x): j for j, x in enumerate(r["bm25"])}; de = {key(x): j for j, x in enumerate(r["dense"])}
    b = bm.get(key(h)); d = de.get(key(h))
    title = h["title"].split(" (")[0]
    ts = stems(title); ss = stems(h["text"])
    named = len(ts) > 0 and ts <= qs
    cov = len(qs & (ss | ts)) / max(1, len(qs))
    covs = len(qs & ss) / max(1, len(qs))
    t = qtype(q)
    qy = set(YEAR.findall(q)); sy = set(YEAR.findall(h["text"])) - qy
    new_caps = len({w for w in re.findall(r"(?<!^)(?<![.!?] )\b[A-ZÉÈÀ][\w-]+", h["text"]) if w[:5].lower() not in qs and norm(w)[:5] not in ts})
    return [
        h["score"], h["score"] - top,
        1 / (1 + b) if b is not None else 0, 1 / (1 + d) if d is not None else 0,
        b is None, d is None,
        h["sentence"] == 0, h["kind"] == "fact", h["kind"] == "list_item",
        named, named and h["sentence"] == 0, (not named) and h["sentence"] == 0,
        cov, covs,
        t == "year" and bool(sy), t == "num" and bool(NUM.search(h["text"])), t == "who" and new_caps > 0,
        math.log1p(len(h["text"])) / 6,
        len(ss - qs) / max(1, len(ss)),
    ]
NAMES = "score gap brank drank bmiss dmiss lead fact list named named_lead unnamed_lead cov covs year num who len novel".split()
data = []
for r in rows:
    ans = [norm(a) for a in r["q"]["answers"]]
    hy = r["hybrid"][:NK]
    if not hy: continue
    X = np.array([feats(r, h, i, hy[0]["score"]) for i, h in enumerate(hy)], dtype=float)
    y = np.array([rel(h, ans) for h in hy])
    data.append((r["set"], r["lang"], r["q"]["kind"], X, y))
def train(D, l2=0.01, it=3000, lr=0.3):
    w = np.zeros(D[0][3].shape[1]); w[0] = 5
    for _ in range(it):
        g = l2 * w
        for _, _, _, X, y in D:
            if not y.any(): continue
            s = X @ w; p = np.exp(s - s.max()); p /= p.sum()
            tgt = y / y.sum()
            g += X.T @ (p - tgt) / len(D)
        w -= lr * g
    return w
def r1(D, w):
    return sum(bool(y[np.argmax(X @ w)]) for *_, X, y in D) / len(D)
def base(D):
    return sum(bool(y[0]) for *_, X, y in D) / len(D)
sets = sorted({d[0] for d in data})
for held in sets:
    tr = [d for d in data if d[0] != held]; te = [d for d in data if d[0] == held]
    w = train(tr)
    print(f"{held:14s} n={len(te)} base {base(te):.3f} -> {r1(te, w):.3f}  (train {base(tr):.3f} -> {r1(tr, w):.3f})")
for lang in ("en", "fr"):
    tr = [d for d in data if d[1] != lang]; te = [d for d in data if d[1] == lang]
    w = train(tr)
    print(f"train on other lang -> {lang}: base {base(te):.3f} -> {r1(te, w):.3f}")
w = train(data)
print(" ".join(f"{n}={v:.2f}" for n, v in zip(NAMES, w)))
print("all:", base(data), r1(data, w))
