#!/usr/bin/env python3
"""The capacity table of docs/SCALE.md, recomputed from measured per-unit rates.

    benches/capacity.py [--rates benches/capacity-rates.json]
                        [--vector-scale REPORT] [--embed-precision REPORT]

`capacity-rates.json` holds every rate the table uses, each with the bench run it came from.
`--vector-scale` takes a report of `vector-scale` (link time, codes time, bytes per sentence in
memory and on disk, at the size it ran); `--embed-precision` the JSON lines of
`benches/embed-precision.sh` (sentences/s per worker, int8 VNNI). Their figures replace the
file's. Prints the markdown table; every figure is a projection from the named rates, never a
measurement of a whole Wikipedia (there is no such dump here).

Projection rules (stated in docs/SCALE.md): embedding and text work scale with cores by the
measured 2-worker/1-worker ratio kept per doubling (the ratio measured here is ≈ 2.0); linking
grows as n·log n from the size it was measured at and scales with cores like embedding; memory
and disk grow linearly with sentences, the vectors' share with vectors (a window of 3
sentences a vector for frwiki and enwiki, as `wikirag index --window auto` picks; its embedding
time per sentence is the measured ratio `window_embed_time_ratio` of the per-sentence time).
"""
import argparse
import json
import math
import re
import sys
from pathlib import Path

WIKIS = {
    # sentences, articles (estimates, as issue 32 states them), the model a user would pick,
    # sentences a vector (`wikirag index --window auto`: 3 from 1 GiB of dump; simplewiki's
    # bz2 is ≈ 0.3 GB, frwiki's ≈ 6 GB, enwiki's ≈ 22 GB)
    "simplewiki": (3e6, 0.25e6, "minilm", 1),
    "frwiki": (45e6, 2.6e6, "e5", 3),
    "enwiki": (150e6, 7e6, "minilm", 3),
}


def vectors(n, articles, window):
    """Vectors for n sentences in runs of `window` per article: n / w, plus the last window of
    each article, on average (w − 1) / (2w) of a vector short of full (a projection; on the
    standard corpora it gives 0.45 vectors a sentence for fr where the build made 0.47)."""
    if window == 1:
        return n
    return n / window + articles * (window - 1) / (2 * window)
CORES = [2, 16, 64]
RAY_NODES = [4, 16]


def load_rates(path):
    rates = json.loads(Path(path).read_text())
    return {k: v for k, v in rates.items() if not k.startswith("_")}


def from_vector_scale(rates, text):
    """Link seconds, codes seconds, bytes per sentence from a vector-scale report."""
    n = re.search(r"## Vector index: (\d+) vectors", text)
    if not n:
        sys.exit("--vector-scale: no '## Vector index: N vectors' line")
    n = int(n.group(1))
    src = f"vector-scale report ({n:,} vectors)"
    link = re.search(r"link ([\d.]+) s", text)
    if link:
        rates["link_seconds"] = {"value": float(link.group(1)), "at": n, "threads": 2, "source": src}
    codes = re.search(r'"hnsw_codes": ([\d.]+)', text) or re.search(r"hnsw_codes\D+([\d.]+)", text)
    if codes:
        rates["codes_seconds"] = {"value": float(codes.group(1)), "at": n, "threads": 2, "source": src}
    held = re.search(r"held in memory by the vector index: (\d+) bytes per sentence", text)
    if held:
        rates["vector_ram_bytes"] = {"value": int(held.group(1)), "source": src}
    disk = re.search(r"on disk: (\d+) bytes per sentence", text)
    if disk:
        rates["vector_disk_bytes"] = {"value": int(disk.group(1)), "source": src}


def from_embed_precision(rates, text):
    """Per-worker int8 sentences/s of each model (one-worker runs) and the 2-worker scaling."""
    one, two = {}, {}
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        row = json.loads(line)
        if row["run"] != "int8":
            continue
        r = row["result"]
        (one if r["workers"] == 1 else two).setdefault(row["model"], []).append(r["sentences_per_s"])
    for model, runs in one.items():
        rates[f"embed_{model}_per_core"] = {
            "value": sum(runs) / len(runs),
            "source": "embed-precision.sh, int8, one worker",
        }
        if model in two:
            rates["core_scaling_per_doubling"] = {
                "value": (sum(two[model]) / len(two[model])) / (sum(runs) / len(runs)),
                "source": f"embed-precision.sh, {model}: 2 workers / 1",
            }


def hours(seconds):
    return seconds / 3600


def table(rates):
    r = {k: v["value"] for k, v in rates.items()}
    scaling = r["core_scaling_per_doubling"]

    def speedup(cores):
        # cores / 1 core, each doubling worth the measured ratio
        return scaling ** math.log2(cores)

    link_at = rates["link_seconds"]["at"]
    link_core_seconds = r["link_seconds"] * speedup(rates["link_seconds"]["threads"])
    codes_core_seconds_per_row = r["codes_seconds"] * speedup(rates["codes_seconds"]["threads"]) / rates["codes_seconds"]["at"]

    out = []
    out.append("| wiki (model, sentences a vector) | sentences | vectors | cores | text + BM25 h | embedding h | link + codes h | total h | RAM served GB | disk GB |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    def wiki_rates(n, articles, model, window):
        """Embedding sentences/s per core, vectors, and one core's link seconds of a wiki."""
        embed_rate = r[f"embed_{model}_per_core"]
        if window > 1:
            embed_rate /= r["window_embed_time_ratio"]
        v = vectors(n, articles, window)
        link_1 = link_core_seconds * (v * math.log(v)) / (link_at * math.log(link_at))
        return embed_rate, v, link_1

    for wiki, (n, articles, model, window) in WIKIS.items():
        embed_rate, v, link_1 = wiki_rates(n, articles, model, window)
        for cores in CORES:
            s = speedup(cores)
            text_h = hours(n / (r["text_bm25_per_core"] * s))
            embed_h = hours(n / (embed_rate * s))
            link_h = hours(link_1 / s + codes_core_seconds_per_row * v / s)
            ram = v * r["vector_ram_bytes"] / 1e9
            disk = (v * r["vector_disk_bytes"] + n * r["bm25_disk_bytes"]) / 1e9
            out.append(
                f"| {wiki} ({model}, {window} a vector) | {n / 1e6:.0f} M | {v / 1e6:.0f} M | {cores} | "
                f"{text_h:.1f} | {embed_h:.1f} | {link_h:.1f} | **{text_h + embed_h + link_h:.1f}** | "
                f"{ram:.0f} | {disk:.0f} |"
            )
    out.append("")
    # A Ray cluster of 16-core nodes: the units run in rounds of one per node, each node at the
    # measured 2-node / 1-node efficiency kept per doubling, plus the coordination per unit; the
    # merge links one graph over every vector on the driver's 16 cores (serial).
    node_scaling = r["ray_node_scaling_per_doubling"]
    coord = r["ray_coordination_s_per_unit"]
    unit_sentences = r["ray_sentences_per_unit"]
    out.append("On a Ray cluster of 16-core nodes (`python -m wikirag_ray build`, then `wikirag merge` on one of them):")
    out.append("")
    out.append("| wiki | sentences | nodes × cores | units | units: text + embedding h | merge: link + codes h | total h |")
    out.append("|---|---|---|---|---|---|---|")
    for wiki, (n, articles, model, window) in WIKIS.items():
        embed_rate, v, link_1 = wiki_rates(n, articles, model, window)
        s16 = speedup(16)
        units = max(1, math.ceil(n / unit_sentences))
        for nodes in RAY_NODES:
            # Units run in rounds of `nodes`; each node keeps the measured efficiency per
            # doubling of nodes (a unit's time is its share of the one-node time).
            rounds = math.ceil(units / nodes)
            per_unit = (n / units) * (1 / (r["text_bm25_per_core"] * s16) + 1 / (embed_rate * s16))
            efficiency = (node_scaling / 2) ** math.log2(nodes)
            work_h = hours(rounds * (per_unit + coord) / efficiency)
            merge_h = hours(link_1 / s16 + codes_core_seconds_per_row * v / s16)
            out.append(
                f"| {wiki} ({model}, {window} a vector) | {n / 1e6:.0f} M | {nodes} × 16 | {units} | {work_h:.1f} | "
                f"{merge_h:.1f} | **{work_h + merge_h:.1f}** |"
            )
    out.append("")
    out.append("One GPU: not measured (no GPU was lent to the sessions that measured these rates).")
    out.append("")
    out.append("Rates used:")
    for k, v in rates.items():
        extra = f" at {v['at']:,} rows, {v['threads']} threads" if "at" in v else ""
        out.append(f"- `{k}` = {v['value']:.4g}{extra} — {v['source']}")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default=str(Path(__file__).with_name("capacity-rates.json")))
    ap.add_argument("--vector-scale")
    ap.add_argument("--embed-precision")
    args = ap.parse_args()
    rates = load_rates(args.rates)
    if args.vector_scale:
        from_vector_scale(rates, Path(args.vector_scale).read_text())
    if args.embed_precision:
        from_embed_precision(rates, Path(args.embed_precision).read_text())
    print(table(rates))


if __name__ == "__main__":
    main()
