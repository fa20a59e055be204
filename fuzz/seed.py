#!/usr/bin/env python3
"""Seeds fuzz/corpus/TARGET from the bundled sample (run from the repository root)."""
import glob, hashlib, os, re

ROOT = 'fuzz/corpus'


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    os.makedirs(f'{ROOT}/{target}', exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(f'{ROOT}/{target}/{name}', 'wb') as f:
        f.write(data)


# cleaner: each bundled page's wikitext (French pages prefixed "fr:")
for lang in ['en', 'fr']:
    for path in sorted(glob.glob(f'data/sample/pages/{lang}/*')):
        text = open(path, encoding='utf-8').read()
        put('cleaner', ('fr:' if lang == 'fr' else '') + text[:8000])
for name in ['enwiki-sample.xml', 'frwiki-sample.xml']:
    xml = open(f'data/sample/{name}', encoding='utf-8').read()
    head = xml[:xml.index('<page>')]
    # xml_reader: small whole dumps of one page each, and a header alone (truncated)
    for page in re.findall(r'<page>.*?</page>', xml, re.S)[:6]:
        put('xml_reader', head + page[:6000] + '\n</mediawiki>\n')
    put('xml_reader', head)
    # splitter: lines of prose
    prose = [l for l in xml.split('\n')
             if len(l) > 200 and not l.lstrip().startswith(('{', '|', '<', '[', '*'))]
    for line in prose[:8]:
        put('splitter', line[:2000])
put('splitter', 'Dr. Smith went to Washington D.C. on Jan. 5. He arrived at 3 p.m. '
    '« Vraiment ? » dit-il. 東京は大きい。本当に？')
