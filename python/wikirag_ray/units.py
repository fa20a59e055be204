"""Work units: ranges of the streams of a multistream dump (never splitting a stream, so never
a page), or whole dump files."""

import bz2
import os
import re


def stream_starts(index_path):
    """The distinct stream offsets of a ``-multistream-index.txt[.bz2]`` (``offset:id:title``)."""
    return [off for off, _ in streams(index_path)]


def streams(index_path):
    """``(offset, first page id)`` of each stream of a multistream index, in file order."""
    opener = bz2.open if _is_bz2(index_path) else open
    starts = []
    with opener(index_path, "rt", encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            head = line.split(":", 1)[0]
            if not head.isdigit():
                raise ValueError(f"{index_path}: line {n}: expected offset:page_id:title, got {line[:80]!r}")
            off = int(head)
            if starts and off < starts[-1][0]:
                raise ValueError(f"{index_path}: line {n}: offset {off} goes backwards")
            if not starts or off != starts[-1][0]:
                rest = line.split(":", 2)
                page = int(rest[1]) if len(rest) > 1 and rest[1].isdigit() else 0
                starts.append((off, page))
    if not starts:
        raise ValueError(f"{index_path}: no stream offsets")
    return starts


def _is_bz2(path):
    with open(path, "rb") as f:
        return f.read(3) == b"BZh"


def companion_index(dump):
    """Wikimedia's name for a multistream dump's index, if that file exists."""
    m = re.match(r"(.*)-multistream\.xml\.bz2$", dump)
    if m:
        idx = f"{m.group(1)}-multistream-index.txt.bz2"
        if os.path.isfile(idx):
            return idx
    return None


def plan(dumps, indexes, unit_bytes, units_per_file):
    """The units of ``dumps``: dicts with ``id``, ``dump``, ``index``, ``part`` (``START:END``
    or None for a whole file) and ``bytes``. ``indexes`` maps a dump to its index."""
    out = []
    for dump in dumps:
        dump = os.path.abspath(dump)
        size = os.path.getsize(dump)
        index = indexes.get(dump) or companion_index(dump)
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(dump))
        if index is None:
            out.append({"id": f"{stem}", "dump": dump, "index": None, "part": None, "bytes": size})
            continue
        index = os.path.abspath(index)
        starts = [s for s in stream_starts(index) if s < size]
        # The head stream (before the first page stream) goes with every unit.
        first = starts[0]
        body = size - first
        if units_per_file:
            target = max(1, body // units_per_file)
        else:
            target = max(1, unit_bytes)
        cuts = [first]
        for s in starts[1:]:
            if s - cuts[-1] >= target and (not units_per_file or len(cuts) < units_per_file):
                cuts.append(s)
        cuts.append(size)
        for a, b in zip(cuts, cuts[1:]):
            end = "end" if b == size else str(b)
            out.append({
                "id": f"{stem}-{a}-{end}",
                "dump": dump,
                "index": index,
                "part": f"{a}:{end}",
                "bytes": b - a,
            })
    return out


def repack(source, dest, pages_per_stream=100):
    """Writes ``source`` (XML, .bz2 or .gz, one stream) as a multistream bzip2 dump ``dest``
    (``X-multistream.xml.bz2``) with its index beside it, as Wikimedia lays them out: a head
    stream up to ``</siteinfo>``, streams of ``pages_per_stream`` pages, a closing stream."""
    import gzip

    if source.endswith(".bz2"):
        raw = bz2.open(source, "rb").read()
    elif source.endswith(".gz"):
        raw = gzip.open(source, "rb").read()
    else:
        raw = open(source, "rb").read()
    head_end = raw.index(b"</siteinfo>") + len(b"</siteinfo>")
    line_end = raw.find(b"\n", head_end, head_end + 2)  # the head keeps its line end
    if line_end >= 0:
        head_end = line_end + 1
    tail_start = raw.rindex(b"</mediawiki>")
    body = raw[head_end:tail_start]
    pages = []
    pos = 0
    while True:
        a = body.find(b"<page>", pos)
        if a < 0:
            break
        b = body.index(b"</page>", a) + len(b"</page>")
        pages.append(body[a:b])
        pos = b
    m = re.match(r"(.*)-multistream\.xml\.bz2$", dest)
    if not m:
        raise ValueError("the output must be named X-multistream.xml.bz2")
    index_path = f"{m.group(1)}-multistream-index.txt.bz2"
    lines = []
    with open(dest, "wb") as out:
        out.write(bz2.compress(raw[:head_end]))
        for i in range(0, len(pages), pages_per_stream):
            offset = out.tell()
            group = pages[i:i + pages_per_stream]
            for p in group:
                pid = re.search(rb"<id>(\d+)</id>", p)
                title = re.search(rb"<title>(.*?)</title>", p, re.S)
                lines.append(f"{offset}:{int(pid.group(1)) if pid else 0}:"
                             f"{title.group(1).decode('utf-8', 'replace') if title else ''}")
            out.write(bz2.compress(b"  " + b"\n  ".join(group) + b"\n"))
        out.write(bz2.compress(raw[tail_start:]))
    with bz2.open(index_path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return dest, index_path, len(pages)


def plan_update(units, dump, index):
    """The parts of a newer multistream ``dump`` that update each unit's shard: the units of a
    build cover ranges of page ids (a dump is sorted by page id), and each stream of the newer
    dump goes to the unit whose range holds its first page. A page that moved into a stream
    of the neighbouring range is added to that unit's shard and deleted from its old one (the
    update of a part deletes what the part lacks), so no page is lost or held twice."""
    bounds = []
    for u in units:
        if not u.get("index") or not u.get("part"):
            raise ValueError(f"unit {u['id']} is a whole file, not a range of streams: only "
                             "builds of multistream dumps are updated unit by unit")
        start = int(u["part"].split(":")[0])
        first = dict(streams(u["index"])).get(start)
        if first is None:
            raise ValueError(f"unit {u['id']}: no stream of {u['index']} starts at {start}")
        bounds.append(first)
    dump = os.path.abspath(dump)
    index = os.path.abspath(index or companion_index(dump) or "")
    if not os.path.isfile(index):
        raise ValueError(f"{dump}: its multistream index is needed (--multistream-index)")
    size = os.path.getsize(dump)
    new = [s for s in streams(index) if s[0] < size]
    owner = []
    for _, page in new:
        j = 0
        for i, b in enumerate(bounds):
            if i > 0 and page >= b:
                j = i
        owner.append(j)
    if owner != sorted(owner):
        raise ValueError(f"{dump}: its streams are not in page id order (as Wikimedia's are): "
                         "its parts cannot be matched to the units; build it instead")
    out = []
    for j, u in enumerate(units):
        mine = [k for k, o in enumerate(owner) if o == j]
        if not mine:
            # Every page of its range now starts in a stream of the range before: that unit's
            # part takes them, and this one's shard is retired once every update succeeded.
            out.append({**u, "retire": True, "update_bytes": 0})
            continue
        a = new[mine[0]][0]
        nxt = next((new[k][0] for k in range(mine[-1] + 1, len(new))), None)
        end = "end" if nxt is None else str(nxt)
        out.append({**u, "update_dump": dump, "update_index": index, "update_part": f"{a}:{end}",
                    "update_bytes": (size if nxt is None else nxt) - a})
    return out
