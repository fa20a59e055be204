# Collect /v1/ask (extractive) answers with their evidence for every question of a dev set.
import json, sys, urllib.request
port, qa, out = sys.argv[1], sys.argv[2], sys.argv[3]
rows = []
for line in open(qa):
    if not line.strip():
        continue
    q = json.loads(line)
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/ask", data=json.dumps({"question": q["question"]}).encode(), headers={"Content-Type": "application/json"})
    a = json.loads(urllib.request.urlopen(req).read())
    rows.append({"q": q, "a": a})
json.dump(rows, open(out, "w"))
print(out, len(rows))
