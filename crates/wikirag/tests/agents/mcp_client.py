"""The official MCP Python SDK (PyPI `mcp`) as a client of wikirag's MCP server.

Usage: mcp_client.py CONFIG_JSON, where CONFIG_JSON holds
  {"stdio": [command...]} or {"url": "http://.../mcp", "key": optional bearer key},
  "mode": "auto" (the 2026-07-28 protocol) or "legacy" (the initialize handshake),
  "check": "tools" (every tool, its schema, results and bad input) or "cancel" (an ask
  abandoned mid-answer; CONFIG "stub_log" names the file the slow model server writes).
Prints "ok" when every check passed; an assertion says what did not.
"""

import asyncio
import json
import sys
import time

import anyio
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

config = json.loads(sys.argv[1])


def server():
    if "stdio" in config:
        cmd = config["stdio"]
        return StdioServerParameters(command=cmd[0], args=cmd[1:])
    if config.get("key"):
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        http = create_mcp_http_client(headers={"Authorization": f"Bearer {config['key']}"})
        return streamable_http_client(config["url"], http_client=http)
    return config["url"]


def plain(schema, where):
    """No unions: some clients refuse anyOf/oneOf/allOf and type lists."""
    if isinstance(schema, dict):
        for bad in ("anyOf", "oneOf", "allOf"):
            assert bad not in schema, f"{where}: {bad} in {schema}"
        if "type" in schema:
            assert isinstance(schema["type"], str), f"{where}: type {schema['type']!r}"
        for key, value in schema.items():
            plain(value, f"{where}.{key}")
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            plain(value, f"{where}[{i}]")


def structured(result, what):
    assert not result.is_error, f"{what}: {result.content}"
    data = result.structured_content
    assert data is not None, f"{what}: no structuredContent"
    # The same result as text (clients that read only content[]): its JSON.
    assert json.loads(result.content[0].text) == data, f"{what}: text differs"
    return data


def error(result, what, *needles):
    assert result.is_error, f"{what}: expected a tool error, got {result.structured_content}"
    text = " ".join(c.text for c in result.content)
    for needle in needles:
        assert needle in text, f"{what}: {needle!r} not in {text!r}"


async def tools(c):
    listed = {t.name: t for t in (await c.list_tools()).tools}
    assert set(listed) == {"search", "fetch", "ask"}, listed.keys()
    for name, tool in listed.items():
        assert tool.annotations.read_only_hint is True, name
        assert tool.annotations.destructive_hint is False, name
        assert tool.description, name
        assert tool.input_schema["type"] == "object", name
        assert tool.input_schema.get("additionalProperties") is False, name
        assert tool.output_schema and tool.output_schema["type"] == "object", name
        plain(tool.input_schema, f"{name}.input")
        plain(tool.output_schema, f"{name}.output")
    assert listed["search"].input_schema["required"] == ["query"]
    assert listed["fetch"].input_schema["required"] == ["id"]
    assert listed["ask"].input_schema["required"] == ["question"]
    modes = listed["search"].input_schema["properties"]["mode"]["enum"]
    assert sorted(modes) == ["bm25", "dense", "hybrid"], modes

    # search: the contract's results[{id, title, url}] and wikirag's text, section, score.
    q = "which capital sits at the greatest altitude in Europe"
    found = structured(await c.call_tool("search", {"query": q, "k": 5}), "search")["results"]
    assert 1 <= len(found) <= 5, found
    for r in found:
        assert set(r) == {"id", "title", "url", "text", "section", "score"}, r
    top = found[0]
    assert top["title"] == "Andorra la Vella", found
    assert "oldid=" in top["url"] and "#:~:text=" in top["url"], top["url"]
    scores = [r["score"] for r in found]
    assert scores == sorted(scores, reverse=True), scores
    for mode in modes:
        by = structured(await c.call_tool("search", {"query": q, "k": 3, "mode": mode}), mode)
        assert any(r["title"] == "Andorra la Vella" for r in by["results"]), (mode, by)

    # fetch: {id, title, text, url, metadata}, by scope.
    doc = structured(await c.call_tool("fetch", {"id": top["id"]}), "fetch")
    assert set(doc) == {"id", "title", "text", "url", "metadata"}, doc.keys()
    assert doc["id"] == top["id"] and doc["title"] == top["title"]
    assert top["text"] in doc["text"], (top["text"], doc["text"])
    assert doc["url"] == top["url"]
    assert doc["metadata"]["scope"] == "section"
    one = structured(
        await c.call_tool("fetch", {"id": top["id"], "scope": "sentence", "context": 0}), "fetch 0"
    )
    assert one["text"] == top["text"], one
    article = structured(await c.call_tool("fetch", {"id": top["id"], "scope": "article"}), "article")
    assert len(article["text"]) >= len(doc["text"]) and doc["text"].split("\n")[-1] in article["text"]
    assert article["metadata"]["first_sentence"] == 0

    # ask: the answer, its citations with ids and links, progress along the way.
    progress = []

    async def on_progress(p, total, message):
        progress.append((p, message))

    answer = structured(
        await c.call_tool(
            "ask",
            {"question": "Qui a été la première femme Premier ministre en France ?"},
            progress_callback=on_progress,
        ),
        "ask",
    )
    assert "Cresson" in answer["answer"], answer
    assert answer["citations"] and not answer["abstained"], answer
    for cite in answer["citations"]:
        assert f"[{cite['n']}]" in answer["answer"], cite
        assert ":" in cite["id"] and cite["url"].startswith("https://"), cite
        again = structured(await c.call_tool("fetch", {"id": cite["id"], "scope": "sentence"}), "cite")
        assert cite["text"] in again["text"], (cite, again)
    assert any(m and "sources found" in m for _, m in progress), progress

    # Bad input: a tool error that says what was wrong, and the session goes on.
    error(await c.call_tool("search", {"query": "   "}), "empty query", "query is empty")
    error(await c.call_tool("search", {"query": "x", "k": 0}), "k 0", "k must be between 1 and 100")
    error(await c.call_tool("search", {"query": "x", "k": 101}), "k 101", "k must be between 1 and 100")
    error(await c.call_tool("search", {"query": "x", "mode": "magic"}), "mode", "unknown mode")
    error(await c.call_tool("search", {"query": "x", "top": 3}), "unknown field", "top")
    error(await c.call_tool("search", {}), "no query", "query")
    error(await c.call_tool("fetch", {"id": "999999:1"}), "unknown id", "unknown id")
    error(await c.call_tool("fetch", {"id": "not-an-id"}), "bad id", "12345:6")
    error(await c.call_tool("fetch", {"id": top["id"], "scope": "chapter"}), "scope", "unknown scope")
    error(await c.call_tool("ask", {"question": ""}), "empty question", "question is empty")
    error(await c.call_tool("ask", {"question": "x" * 5000}), "long question", "too long")
    try:
        await c.call_tool("delete_everything", {})
        raise AssertionError("an unknown tool was called")
    except MCPError as e:
        assert "unknown tool" in str(e), e
    again = structured(await c.call_tool("search", {"query": q, "k": 1}), "after errors")
    assert again["results"][0]["id"] == top["id"]


async def cancel(c):
    """An ask whose answer streams slowly from the model is abandoned after a second: the
    model's stream is closed soon after, and the session still answers."""
    started = time.time()
    with anyio.move_on_after(1.5):
        await c.call_tool("ask", {"question": "Qui a été la première femme Premier ministre en France ?"})
        raise AssertionError("the slow ask finished: the stub model did not stream slowly")
    cancelled = time.time()
    found = structured(await c.call_tool("search", {"query": "Andorra", "k": 1}), "after cancel")
    assert found["results"], found
    # The stub writes "started N T" and "closed N T": the ask's stream is the last one
    # started before the cancel.
    def events(kind):
        lines = open(config["stub_log"]).read().split("\n")
        return {int(w[1]): float(w[2]) for w in map(str.split, lines) if w and w[0] == kind}

    asked = max((n for n, t in events("started").items() if t <= cancelled), default=None)
    assert asked is not None, "the ask never reached the model"
    deadline = time.time() + 10
    while asked not in events("closed") and time.time() < deadline:
        await anyio.sleep(0.1)
    closed = events("closed").get(asked)
    assert closed is not None, "the model's stream was still read 10 s after the cancel"
    assert closed - cancelled < 3, (started, cancelled, closed)


async def main():
    async with Client(server(), mode=config["mode"]) as c:
        want = "2026-07-28" if config["mode"] == "auto" else None
        if want:
            assert c.protocol_version == want, c.protocol_version
        await (tools(c) if config["check"] == "tools" else cancel(c))
    print("ok")


asyncio.run(main())
