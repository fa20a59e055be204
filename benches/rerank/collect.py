# For every dev-set question, the hybrid top 20 of a running `wikirag serve --mode hybrid` and the
# bm25 / dense top 50 of two more servers on the same index (ranks of each hybrid candidate).
# usage: collect.py OUT.json LANG:PORT_BM25,PORT_DENSE,PORT_HYBRID:SET.jsonl ...
import json, sys, urllib.request

def search(port, query, k):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/search",
        data=json.dumps({"query": query, "k": k}).encode(), headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req).read())["hits"]

out = sys.argv[1]
rows = []
for spec in sys.argv[2:]:
    lang, ports, qa = spec.split(":")
    pb, pd, ph = ports.split(",")
    name = qa.rsplit("/", 1)[-1].removesuffix(".jsonl")
    for line in open(qa):
        if not line.strip():
            continue
        q = json.loads(line)
        lists = {m: search(p, q["question"], k) for m, p, k in (("bm25", pb, 50), ("dense", pd, 50), ("hybrid", ph, 20))}
        rows.append({"set": name, "lang": lang, "q": q, **lists})
json.dump(rows, open(out, "w"))
print(out, len(rows))
