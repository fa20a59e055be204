# Three lists instead of two: BM25, a vector per sentence (d1) and a vector per window of 3 (d3),
# fused by weighted min-max as the searcher fuses two (per page 3, each list's top 3 kept),
# measured per dev set; then the split between d1 and d3 chosen on three sets and measured on
# the fourth (leave one set out). Needs four servers a language: bm25 and dense on the
# `--window 1` index, dense on the `--window 3` index, hybrid on the `--window 1` index:
#
#     wikirag serve --index en-w1 --mode bm25 --addr 127.0.0.1:8401   (… 8402 dense, 8404 hybrid)
#     wikirag serve --index en-w3 --mode dense --addr 127.0.0.1:8403
#     python3 benches/rerank/two_vectors.py collect /tmp/rows.json \
#         en:8401,8402,8403,8404:tests/eval/enwiki-vital.jsonl …
#     python3 benches/rerank/two_vectors.py measure /tmp/rows.json
import json, sys, collections, unicodedata, urllib.request


def search(port, query, k, per_page):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/search",
        data=json.dumps({"query": query, "k": k, "per_page": per_page}).encode(),
        headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req).read())["hits"]


def collect(out, specs):
    rows = []
    for spec in specs:
        lang, ports, qa = spec.split(":")
        pb, p1, p3, ph = ports.split(",")
        name = qa.rsplit("/", 1)[-1].removesuffix(".jsonl")
        for line in open(qa):
            if not line.strip():
                continue
            q = json.loads(line)
            keep = lambda hs: [{k: h[k] for k in ("page_id", "sentence", "score", "text")} for h in hs]
            rows.append({"set": name, "lang": lang, "q": q,
                         "bm25": keep(search(pb, q["question"], 100, 0)),
                         "d1": keep(search(p1, q["question"], 100, 0)),
                         "d3": keep(search(p3, q["question"], 100, 0)),
                         "hybrid": keep(search(ph, q["question"], 20, 3))})
    json.dump(rows, open(out, "w"))
    print(out, len(rows))
def norm(s):
    s = unicodedata.normalize("NFD", s)
    s = "".join(c for c in s if not unicodedata.combining(c)).lower().replace("’","'").replace("‘","'").replace("\u00a0"," ").replace("\u202f"," ")
    return " ".join(s.split())
def key(h): return (h["page_id"], h["sentence"])
def minmax(lst):
    seen=set(); out={}
    if not lst: return out
    mx=max(h["score"] for h in lst); mn=min(h["score"] for h in lst); sp=mx-mn
    for h in lst:
        k=key(h)
        if k in seen: continue
        seen.add(k); out[k]=(h["score"]-mn)/sp if sp>0 else 1.0
    return out
def fuse(lists_weights):
    sc=collections.defaultdict(float)
    for lst,w in lists_weights:
        for k,v in minmax(lst).items(): sc[k]+=w*v
    return sorted(sc.items(), key=lambda x:(-x[1], x[0]))
def cap(items, per_page, n):
    cnt=collections.Counter(); out=[]
    for k,s in items:
        if cnt[k[0]]>=per_page: continue
        cnt[k[0]]+=1; out.append((k,s))
        if len(out)==n: break
    return out
def tops(lists, n):
    firsts=[]
    for lst in lists:
        seen=[]
        for h in lst:
            if len(seen)==n: break
            if key(h) not in seen: seen.append(key(h))
        firsts.append(seen)
    out=[]
    for i in range(n):
        for f in firsts:
            if i<len(f) and f[i] not in out: out.append(f[i])
    return out
def keep(top, protected, k, per_page):
    head=[t[0] for t in top[:k]]
    for p in protected:
        if p in head: continue
        if sum(1 for x in head if x[0]==p[0])>=per_page: continue
        if len(head)<k: head.append(p); continue
        idx=[i for i,x in enumerate(head) if x not in protected]
        if not idx: break
        head.pop(idx[-1]); head.append(p)
    return head
def run(r, weights, keep_top=3, lists_for_tops=None):
    fused=fuse([(r[n],w) for n,w in weights])
    top=cap(fused,3,30)
    if keep_top:
        prot=tops([r[n] for n in (lists_for_tops or [n for n,_ in weights])], keep_top)
        return keep(top, prot, 10, 3)
    return [t[0] for t in top[:10]]
def rank(r, ranked):
    texts={}
    for n in ("bm25","d1","d3","hybrid"):
        for h in r[n]: texts[key(h)]=h["text"]
    ans=[norm(a) for a in r["q"]["answers"]]
    for i,k in enumerate(ranked):
        t=norm(texts[k])
        if any(a in t for a in ans): return i+1
    return None


def measure(path):
    rows = json.load(open(path))
    sets = ["enwiki-vital", "enwiki-2016", "frwiki-vital", "frwiki-2022"]
    configs = {
        "hybrid, a vector per sentence (served)": None,
        "bm25 .4 + d1 .6 (the searcher, simulated)": [("bm25", .4), ("d1", .6)],
        "bm25 .4 + d3 .6": [("bm25", .4), ("d3", .6)],
        "bm25 .4 + d1 .3 + d3 .3": [("bm25", .4), ("d1", .3), ("d3", .3)],
        "bm25 .4 + d1 .2 + d3 .4": [("bm25", .4), ("d1", .2), ("d3", .4)],
        "bm25 .3 + d1 .35 + d3 .35": [("bm25", .3), ("d1", .35), ("d3", .35)],
    }
    def score(rs, w):
        ranks = [rank(r, [key(h) for h in r["hybrid"][:10]] if w is None else run(r, w)) for r in rs]
        return sum(x == 1 for x in ranks), sum(bool(x) and x <= 10 for x in ranks)
    print("| fusion | " + " | ".join(sets) + " | recall@1, all | recall@10, all |")
    print("|---|" + "---|" * (len(sets) + 2))
    for name, w in configs.items():
        cells, t1, t10 = [], 0, 0
        for s in sets:
            rs = [r for r in rows if r["set"] == s]
            a1, a10 = score(rs, w)
            t1, t10 = t1 + a1, t10 + a10
            cells.append(f"{a1 / len(rs):.3f} / {a10 / len(rs):.3f}")
        print(f"| {name} | " + " | ".join(cells) + f" | {t1} | {t10} |")
    grid = [(b, a) for b in (0.3, 0.4, 0.5) for a in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)]
    weights = lambda b, a: [(n, w) for n, w in [("bm25", b), ("d1", (1 - b) * (1 - a)), ("d3", (1 - b) * a)] if w > 0]
    cache = {(s, g): score([r for r in rows if r["set"] == s], weights(*g)) for s in sets for g in grid}
    totals = [0, 0, 0, 0]
    for s in sets:
        others = [o for o in sets if o != s]
        best = max(grid, key=lambda g: tuple(sum(cache[(o, g)][i] for o in others) for i in (0, 1)))
        base, held = cache[(s, (0.4, 0.0))], cache[(s, best)]
        n = sum(r["set"] == s for r in rows)
        print(f"held out {s}: chosen bm25 {best[0]}, windows' share of dense {best[1]}: "
              f"recall@1 {base[0] / n:.3f} -> {held[0] / n:.3f}, recall@10 {base[1] / n:.3f} -> {held[1] / n:.3f}")
        for i, v in enumerate(base + held):
            totals[i] += v
    print(f"held out, all sets: recall@1 {totals[0]} -> {totals[2]}, recall@10 {totals[1]} -> {totals[3]} of {len(rows)}")


if __name__ == "__main__":
    if sys.argv[1] == "collect":
        collect(sys.argv[2], sys.argv[3:])
    else:
        measure(sys.argv[2])
