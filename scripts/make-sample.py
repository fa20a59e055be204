#!/usr/bin/env python3
"""Builds the bundled sample dumps from data/sample/pages/{fr,en}/*.wiki.

Writes, for each language, a pages-articles XML file and the same pages as a bzip2
*multistream* file with its companion index, laid out like Wikimedia's dumps:
a header stream (<mediawiki><siteinfo>), streams of PAGES_PER_STREAM pages, a footer stream.

The pages are the project's own words. Output is deterministic: run it again after editing a
page and commit the results (a test checks the committed files are up to date).

Usage: scripts/make-sample.py [OUT_DIR]   (default: data/sample)
"""
import bz2
import pathlib
import sys
from xml.sax.saxutils import escape, quoteattr

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = ROOT / "data" / "sample" / "pages"
PAGES_PER_STREAM = 4

SITES = {
    "fr": {
        "sitename": "Wikipédia",
        "dbname": "frwiki",
        "base": "https://fr.wikipedia.org/wiki/Wikip%C3%A9dia:Accueil_principal",
        "namespaces": [(-2, "Média"), (-1, "Spécial"), (0, ""), (1, "Discussion"),
                       (6, "Fichier"), (10, "Modèle"), (14, "Catégorie")],
        "first_id": 1000,
        # alias -> target
        "redirects": {
            "Première ministre": "Premier ministre français",
            "Elisabeth Borne": "Élisabeth Borne",
            "Matignon": "Hôtel de Matignon",
            "Ve République": "Cinquième République",
        },
        "extra": [
            (14, "Catégorie:Premier ministre de France",
             "Cette catégorie regroupe les chefs de gouvernement français."),
            (1, "Discussion:Édith Cresson", "Une page de discussion qui ne doit pas être indexée."),
        ],
    },
    "en": {
        "sitename": "Wikipedia",
        "dbname": "enwiki",
        "base": "https://en.wikipedia.org/wiki/Main_Page",
        "namespaces": [(-2, "Media"), (-1, "Special"), (0, ""), (1, "Talk"),
                       (6, "File"), (10, "Template"), (14, "Category")],
        "first_id": 2000,
        "redirects": {
            "Gagarin": "Yuri Gagarin",
            "Yuri Alekseyevich Gagarin": "Yuri Gagarin",
            "Tour Eiffel": "Eiffel Tower",
            "Marie Sklodowska-Curie": "Marie Curie",
            "La dame de fer": "Eiffel Tower",
        },
        "extra": [
            (14, "Category:Soviet cosmonauts", "Cosmonauts of the Soviet space programme."),
            (1, "Talk:Yuri Gagarin", "A talk page that must not be indexed."),
        ],
    },
}


def page_xml(page_id, title, ns, text, redirect=None):
    red = f"\n    <redirect title={quoteattr(redirect)} />" if redirect else ""
    return (
        f"  <page>\n    <title>{escape(title)}</title>\n    <ns>{ns}</ns>\n"
        f"    <id>{page_id}</id>{red}\n    <revision>\n      <id>{page_id * 10 + 1}</id>\n"
        f"      <timestamp>2025-06-01T12:00:00Z</timestamp>\n"
        f"      <contributor>\n        <username>wikirag</username>\n        <id>1</id>\n"
        f"      </contributor>\n      <model>wikitext</model>\n      <format>text/x-wiki</format>\n"
        f"      <text bytes=\"{len(text.encode())}\" xml:space=\"preserve\">{escape(text)}</text>\n"
        f"    </revision>\n  </page>\n"
    )


def build(lang, out_dir):
    site = SITES[lang]
    header = (
        '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" '
        f'xml:lang="{lang}">\n  <siteinfo>\n    <sitename>{escape(site["sitename"])}</sitename>\n'
        f'    <dbname>{site["dbname"]}</dbname>\n    <base>{escape(site["base"])}</base>\n'
        '    <generator>wikirag make-sample.py</generator>\n    <case>first-letter</case>\n'
        "    <namespaces>\n"
    )
    for key, name in site["namespaces"]:
        if name:
            header += f'      <namespace key="{key}" case="first-letter">{escape(name)}</namespace>\n'
        else:
            header += f'      <namespace key="{key}" case="first-letter" />\n'
    header += "    </namespaces>\n  </siteinfo>\n"
    footer = "</mediawiki>\n"

    pages = []  # (id, title, xml)
    next_id = site["first_id"]
    for path in sorted((PAGES / lang).glob("*.wiki")):
        title = path.stem
        text = path.read_text(encoding="utf-8")
        pages.append((next_id, title, page_xml(next_id, title, 0, text)))
        next_id += 1
    for alias, target in site["redirects"].items():
        word = "#REDIRECTION" if lang == "fr" else "#REDIRECT"
        pages.append((next_id, alias, page_xml(next_id, alias, 0, f"{word} [[{target}]]", target)))
        next_id += 1
    for ns, title, text in site["extra"]:
        pages.append((next_id, title, page_xml(next_id, title, ns, text)))
        next_id += 1

    stem = f"{site['dbname']}-sample"
    xml = header + "".join(p[2] for p in pages) + footer
    (out_dir / f"{stem}.xml").write_text(xml, encoding="utf-8")

    # Multistream: header stream, page streams, footer stream; index lines offset:id:title.
    blob = bytearray()
    index_lines = []
    blob += bz2.compress(header.encode(), 9)
    for i in range(0, len(pages), PAGES_PER_STREAM):
        chunk = pages[i:i + PAGES_PER_STREAM]
        offset = len(blob)
        for page_id, title, _ in chunk:
            index_lines.append(f"{offset}:{page_id}:{title}")
        blob += bz2.compress("".join(p[2] for p in chunk).encode(), 9)
    blob += bz2.compress(footer.encode(), 9)
    (out_dir / f"{stem}-multistream.xml.bz2").write_bytes(bytes(blob))
    (out_dir / f"{stem}-multistream-index.txt.bz2").write_bytes(
        bz2.compress(("\n".join(index_lines) + "\n").encode(), 9))
    return len(pages)


def main():
    out_dir = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "data" / "sample"
    out_dir.mkdir(parents=True, exist_ok=True)
    for lang in SITES:
        n = build(lang, out_dir)
        print(f"{lang}: {n} pages -> {out_dir}")


if __name__ == "__main__":
    main()
