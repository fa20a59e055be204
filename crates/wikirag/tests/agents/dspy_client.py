"""DSPy (PyPI `dspy`) against wikirag's ColBERTv2-compatible endpoint, unchanged DSPy code.

Usage: dspy_client.py URL. Prints "ok" when every check passed."""

import sys

import dspy
import requests

url = sys.argv[1]

# GET, DSPy's default: passages "Title | text", ranked, with ColBERT's fields.
rm = dspy.ColBERTv2(url=url)
top = rm("which capital sits at the greatest altitude in Europe", k=3)
assert 1 <= len(top) <= 3, top
for rank, p in enumerate(top, 1):
    assert set(p) >= {"text", "long_text", "pid", "rank", "score", "prob"}, p.keys()
    assert p.rank == rank and " | " in p.long_text, p
assert top[0].long_text.startswith("Andorra la Vella | "), top[0]
assert "highest capital city in Europe" in top[0].long_text, top[0]
assert abs(sum(p.prob for p in rm("capital", k=5)) - 1) < 1e-6
assert [p.score for p in top] == sorted((p.score for p in top), reverse=True)
assert rm("Andorra", k=2, simplify=True)[0].startswith("Andorra la Vella | ")

# POST (post_requests=True): the same passages.
posted = dspy.ColBERTv2(url=url, post_requests=True)(
    "which capital sits at the greatest altitude in Europe", k=3
)
assert [p["pid"] for p in posted] == [p.pid for p in top], (posted, top)

# A DSPy program: Retrieve through the configured retriever.
dspy.configure(rm=rm)
passages = dspy.Retrieve(k=2)("Qui a été la première femme Premier ministre en France ?").passages
assert len(passages) == 2 and any("Cresson" in p for p in passages), passages

# Errors: a status DSPy raises on, and ColBERT's {"error": true, "message"} body.
for params, needle in [
    ({"query": "", "k": 3}, "query is empty"),
    ({"query": "x", "k": 0}, "k must be between 1 and 100"),
    ({"query": "x", "k": 101}, "k must be between 1 and 100"),
    ({"query": "x", "k": "ten"}, "whole number"),
]:
    r = requests.get(url, params=params, timeout=10)
    assert r.status_code == 400, (params, r.status_code)
    body = r.json()
    assert body["error"] is True and needle in body["message"], (params, body)
try:
    rm("", k=3)
    raise AssertionError("an empty query was answered")
except requests.HTTPError as e:
    assert e.response.status_code == 400
print("ok")
