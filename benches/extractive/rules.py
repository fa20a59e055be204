#!/usr/bin/env python3
"""Extractive-answer selection rules, compared offline on collected answers.

`collect.py PORT QA OUT` saves each question's `/v1/ask` answer (with its evidence: every
retrieved sentence, its rank and fused score) from a running `wikirag serve`; this script
replays selection rules on that evidence and prints answer contains / citation precision /
citations per answer per language, as `wikirag eval --ask` scores them (normalised substring
of an expected answer). The evidence does not depend on the rule, so one collection serves
every rule. benches/RESULTS.md "Extractive answers" has the numbers.

    python3 benches/extractive/rules.py OUT1.json OUT2.json ...
"""
import collections, json, re, sys, unicodedata

STOP = set("""the a an of in on at to is was were are be been and or for by with from as that
this it its who what when where which why how many much did does do has have had there their
they he she his her tell me about please can you whom whose le la les un une des du de d l et
ou en au aux est a ont été qui que quoi quel quelle quels quelles combien comment pourquoi où
quand dans sur par pour avec ce cette ces il elle ils elles son sa ses leur y se s qu occupé
fut""".split())
TOP = 2 / 61  # fused score of a sentence both searches rank first (RRF, k = 60)


def norm(s):
    s = unicodedata.normalize("NFD", s)
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    return " ".join(s.replace("’", "'").replace("\xa0", " ").split())


def words(s):
    return [w for w in re.split(r"[^\w-]+", norm(s)) if w]


def stems(ws):
    return {w[:5] for w in ws}


def holds(text, answers):
    t = norm(text)
    return any(norm(a) in t for a in answers)


def short(title):
    return title.split(" (")[0]


def named(q, s):
    tw = [w for w in words(short(s["title"])) if w not in STOP]
    return bool(tw) and all(w in set(words(q)) for w in tw)


def agree(s):
    return abs(s["score"] - TOP) < 1e-4


def lead_then_page(ev):
    return len(ev) > 1 and ev[1]["title"] == ev[0]["title"] and ev[0]["sentence"] == 0


def shares(q, s):
    texts = [s["text"], s["title"], *s.get("before", []), *s.get("after", [])]
    return bool(stems(set(words(q)) - STOP) & stems(w for t in texts for w in words(t)))


def covered(q, s):
    return len(stems(set(words(q)) - STOP) & stems(words(s["text"]) + words(s["title"])))


def label(s):
    """The quoted text: led by the page title when the sentence has no word of it."""
    tw = [w for w in words(short(s["title"])) if w not in STOP]
    if tw and not stems(tw) & stems(words(s["text"])):
        return f"{short(s['title'])} — {s['text']}"
    return s["text"]


def old(q, ev):
    """Before: four sentences, preferring pages named by those chosen, then new pages."""
    chosen = []
    while len(chosen) < 4:
        text = " ".join(c["text"].lower() for c in chosen)
        fresh = lambda s: not any(c["page_id"] == s["page_id"] for c in chosen)
        nxt = (next((s for s in ev if fresh(s) and len(s["title"]) >= 4 and s["title"].lower() in text), None)
               or next((s for s in ev if fresh(s)), None)
               or next((s for s in ev if not any(c is s for c in chosen)), None))
        if nxt is None:
            break
        chosen.append(nxt)
    return chosen


def one_if(cond):
    def rule(q, ev):
        if not ev or not shares(q, ev[0]):
            return []
        return ev[:1] if cond(q, ev) else ev[:2]
    return rule


def chosen_rule(q, ev):
    """What wikirag does (crates/wikirag-rag/src/extractive.rs)."""
    if not ev or not shares(q, ev[0]):
        return []
    widest = max(ev, key=lambda s: (covered(q, s), -s["rank"]))
    if widest is not ev[0]:
        return [widest, ev[0]]
    return one_if(lambda q, ev: agree(ev[0]) and named(q, ev[0]) and not lead_then_page(ev))(q, ev)


RULES = [
    ("before: 4 sentences", old, False),
    ("top 1", lambda q, ev: ev[:1], True),
    ("top 2", lambda q, ev: ev[:2], True),
    ("1 if agreed & named", one_if(lambda q, ev: agree(ev[0]) and named(q, ev[0])), True),
    ("1 if agreed & not lead+page", one_if(lambda q, ev: agree(ev[0]) and not lead_then_page(ev)), True),
    ("1 if agreed & named & not lead+page, no title lead", one_if(lambda q, ev: agree(ev[0]) and named(q, ev[0]) and not lead_then_page(ev)), False),
    ("1 if agreed & named & not lead+page", one_if(lambda q, ev: agree(ev[0]) and named(q, ev[0]) and not lead_then_page(ev)), True),
    ("chosen: widest first, then as above", chosen_rule, True),
]


def main(paths):
    rows = []
    for p in paths:
        rows += json.load(open(p))
    for name, rule, labelled in RULES:
        by = collections.defaultdict(lambda: [0, 0, 0, 0, 0])
        for r in rows:
            ev = sorted(r["a"]["evidence"], key=lambda s: s["rank"])
            q, ans = r["q"]["question"], r["q"]["answers"]
            chosen = rule(q, ev)
            text = " ".join(label(s) if labelled else s["text"] for s in chosen)
            b = by[r["q"].get("lang", "?")]
            b[0] += 1
            b[1] += bool(chosen) and holds(text, ans)
            b[2] += sum(holds(s["text"], ans) for s in chosen)
            b[3] += len(chosen)
            b[4] += not chosen
        cells = [f"{lang} {c/n:.3f} / {ok/max(cit, 1):.3f} / {cit/n:.2f}" for lang, (n, c, ok, cit, _) in sorted(by.items())]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
