#!/usr/bin/env python3
"""Writes a "newer" dump from a dump: every Nth page edited (revision id + 1, a sentence
appended), every Mth page deleted. For benches/update-cost.sh.

usage: mutate-dump.py IN.xml[.bz2] OUT.xml EDIT_EVERY DELETE_EVERY
"""
import bz2
import re
import sys

src, out, edit_every, delete_every = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
text = (bz2.open if src.endswith(".bz2") else open)(src, "rt", encoding="utf-8").read()
head, _, rest = text.partition("<page>")
pages = ("<page>" + rest).split("</page>")
tail = pages.pop()
kept, edited, deleted = [], 0, 0
for i, page in enumerate(pages):
    if delete_every and i % delete_every == delete_every - 1:
        deleted += 1
        continue
    if edit_every and i % edit_every == 0 and "<redirect" not in page:
        page = re.sub(r"(<revision>\s*<id>)(\d+)(</id>)", lambda m: f"{m[1]}{int(m[2]) + 1}{m[3]}", page, count=1)
        page = page.replace("</text>", f"\n\nThis page was edited for update benchmark number {i}.</text>", 1)
        edited += 1
    kept.append(page)
with open(out, "w", encoding="utf-8") as f:
    f.write(head + "</page>".join(kept) + "</page>" + tail)
print(f"{len(pages)} pages: {edited} edited, {deleted} deleted", file=sys.stderr)
