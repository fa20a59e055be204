"""Build a wikirag index of a whole Wikipedia on a Ray cluster.

Each work unit (a range of bzip2 streams of a multistream dump, read from its companion index,
or a whole dump file) is a Ray task running ``wikirag index --part`` on a node; each writes a
shard to storage every node can read; ``wikirag merge`` makes one index of them. Ray retries a
task whose node dies; a finished shard (one with a published ``manifest.json``) is never built
again, so a re-run resumes.
"""

__version__ = "0.1.0"
