#!/usr/bin/env python3
"""What MCP adds to a search: the `search` tool over stdio (`wikirag mcp`) and over streamable
HTTP (`/mcp` of `wikirag serve`), against the search itself.

    benches/mcp-latency.py --index IDX --qa tests/eval/frwiki-vital.jsonl [--bin target/release/wikirag]

For every question (two passes; the second is measured) it times, one after the other:
  search   the server's own time for the search (`took_ms` of POST /v1/search);
  /v1      POST /v1/search, round trip on a kept-alive connection;
  stdio    a `tools/call search` over the pipes of `wikirag mcp`, round trip;
  http     the same over streamable HTTP (a 2025-06-18 session, kept-alive connection);
  http 2026  the same in the 2026-07-28 protocol (stateless requests), round trip.
The clients are raw JSON-RPC (no SDK) so that what is measured is the server's side. The
report is p50/p95 of each, and p50 of the paired differences (what a transport adds to that
same query's search). Both servers get the same retrieval flags (--mode etc. after --).
"""

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import time


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


class Stdio:
    def __init__(self, cmd):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.n = 0
        self.call("initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, msg):
        self.p.stdin.write((json.dumps(msg) + "\n").encode())
        self.p.stdin.flush()

    def call(self, method, params):
        self.n += 1
        self.send({"jsonrpc": "2.0", "id": self.n, "method": method, "params": params})
        while True:
            msg = json.loads(self.p.stdout.readline())
            if msg.get("id") == self.n:
                return msg

    def close(self):
        self.p.stdin.close()
        self.p.wait()


class Http:
    def __init__(self, host, port):
        self.c = http.client.HTTPConnection(host, port)
        self.n = 0
        self.session = None
        self.call("initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}})
        self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}).read()

    def post(self, msg):
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if self.session:
            headers["Mcp-Session-Id"] = self.session
            headers["Mcp-Protocol-Version"] = "2025-06-18"
        self.c.request("POST", "/mcp", json.dumps(msg), headers)
        r = self.c.getresponse()
        self.session = r.getheader("mcp-session-id") or self.session
        return r

    def call(self, method, params):
        self.n += 1
        r = self.post({"jsonrpc": "2.0", "id": self.n, "method": method, "params": params})
        if r.getheader("content-type", "").startswith("application/json"):
            return json.loads(r.read())
        # An event stream: the response is the data line that carries this id.
        found = None
        for line in r.read().decode().split("\n"):
            if line.startswith("data:") and line[5:].strip():
                msg = json.loads(line[5:])
                if msg.get("id") == self.n:
                    found = msg
        return found


class Http26:
    """The 2026-07-28 protocol: stateless requests, each carrying its protocol metadata."""

    META = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }

    def __init__(self, host, port):
        self.c = http.client.HTTPConnection(host, port)
        self.n = 0

    def call(self, method, params):
        self.n += 1
        body = {"jsonrpc": "2.0", "id": self.n, "method": method, "params": {**params, "_meta": self.META}}
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "Mcp-Protocol-Version": "2026-07-28",
            "Mcp-Method": method,
            "Mcp-Name": params.get("name", ""),
        }
        self.c.request("POST", "/mcp", json.dumps(body), headers)
        r = self.c.getresponse()
        text = r.read().decode()
        if r.getheader("content-type", "").startswith("application/json"):
            return json.loads(text)
        for line in text.split("\n"):
            if line.startswith("data:") and line[5:].strip():
                msg = json.loads(line[5:])
                if msg.get("id") == self.n:
                    return msg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", required=True)
    ap.add_argument("--qa", required=True)
    ap.add_argument("--bin", default="target/release/wikirag")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--port", type=int, default=18931)
    ap.add_argument("extra", nargs="*", help="retrieval flags for both servers")
    a = ap.parse_args()
    questions = [json.loads(l)["question"] for l in open(a.qa) if l.strip()]

    server = subprocess.Popen(
        [a.bin, "serve", "--index", a.index, "--addr", f"127.0.0.1:{a.port}", *a.extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    for line in server.stderr:
        if b"http://" in line:
            break
    stdio = Stdio([a.bin, "mcp", "--index", a.index, *a.extra])
    mcp_http = Http("127.0.0.1", a.port)
    mcp_http26 = Http26("127.0.0.1", a.port)
    v1 = http.client.HTTPConnection("127.0.0.1", a.port)

    rows = []
    for rep in range(2):
        for q in questions:
            t = time.perf_counter()
            v1.request("POST", "/v1/search", json.dumps({"query": q, "k": a.k}), {"Content-Type": "application/json"})
            body = json.loads(v1.getresponse().read())
            t_v1 = time.perf_counter() - t
            t = time.perf_counter()
            r1 = stdio.call("tools/call", {"name": "search", "arguments": {"query": q, "k": a.k}})
            t_stdio = time.perf_counter() - t
            t = time.perf_counter()
            r2 = mcp_http.call("tools/call", {"name": "search", "arguments": {"query": q, "k": a.k}})
            t_http = time.perf_counter() - t
            t = time.perf_counter()
            r3 = mcp_http26.call("tools/call", {"name": "search", "arguments": {"query": q, "k": a.k}})
            t_http26 = time.perf_counter() - t
            for r in (r1, r2, r3):
                assert r and not r["result"].get("isError"), r
            same = [(h["title"], h["text"]) for h in body["hits"]]
            assert [(x["title"], x["text"]) for x in r1["result"]["structuredContent"]["results"]] == same, q
            if rep == 1:
                rows.append((body["took_ms"], t_v1 * 1e3, t_stdio * 1e3, t_http * 1e3, t_http26 * 1e3))
    stdio.close()
    server.terminate()
    server.wait()

    search = [r[0] for r in rows]
    print(f"{len(rows)} queries, k {a.k}, {a.index} {' '.join(a.extra)}")
    print(f"{'':>10} {'p50 ms':>8} {'p95 ms':>8} {'adds p50':>9}")
    print(f"{'search':>10} {pct(search, .5):8.3f} {pct(search, .95):8.3f}")
    for i, name in [(1, "/v1"), (2, "stdio"), (3, "http"), (4, "http 2026")]:
        xs = [r[i] for r in rows]
        adds = statistics.median(r[i] - r[0] for r in rows)
        print(f"{name:>10} {pct(xs, .5):8.3f} {pct(xs, .95):8.3f} {adds:9.3f}")


if __name__ == "__main__":
    sys.exit(main())
