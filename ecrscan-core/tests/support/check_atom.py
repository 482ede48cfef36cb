"""Checks Atom feeds with implementations independent of ecrscan's.

    python check_atom.py FEED...

For each feed: the RFC 4287 RELAX NG grammar (atom.rnc beside this script,
RFC 4287 Appendix B, converted by rnc2rng and validated by libxml2 through
lxml); the RFC's rules outside the grammar that ecrscan's feeds touch
(RFC 3339 dates, absolute ids, an author, one id per entry); and feedparser
as a real feed reader (no bozo, version atom10). Prints one JSON line per
feed, {"file", "entries", "ids", "titles"}, and the problems on stderr;
exits 1 if any feed has one.
"""

import json
import re
import sys
from pathlib import Path

import feedparser
import rnc2rng
from lxml import etree

ATOM = "{http://www.w3.org/2005/Atom}"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
ABSOLUTE_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")


def grammar():
    rnc = (Path(__file__).parent / "atom.rnc").read_text(encoding="utf-8")
    # rnc2rng declares the empty namespace as a prefix, which XML forbids;
    # the grammar refers to it as ns="" anyway.
    rng = rnc2rng.dumps(rnc2rng.loads(rnc)).replace('xmlns:local=""', "")
    return etree.RelaxNG(etree.fromstring(rng.encode("utf-8")))


def problems_of(path, schema):
    problems = []
    try:
        document = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as err:
        return [f"not well-formed XML: {err}"], None
    if not schema.validate(document):
        problems += [f"RFC 4287 grammar: line {e.line}: {e.message}" for e in schema.error_log]
    root = document.getroot()
    for element in root.iter(ATOM + "updated", ATOM + "published"):
        if not RFC3339.match(element.text or ""):
            problems.append(f"{element.tag}: {element.text!r} is not an RFC 3339 date-time")
    ids = []
    for element in root.iter(ATOM + "id"):
        text = element.text or ""
        if not ABSOLUTE_IRI.match(text) or text != text.strip():
            problems.append(f"atom:id {text!r} is not an absolute IRI")
        if element.getparent().tag == ATOM + "entry":
            ids.append(text)
    if len(ids) != len(set(ids)):
        problems.append(f"entry ids repeat: {ids}")
    if root.find(ATOM + "author") is None:
        for entry in root.iter(ATOM + "entry"):
            if entry.find(ATOM + "author") is None and entry.find(ATOM + "source") is None:
                problems.append("an entry without an author in a feed without one (RFC 4287 4.1.1)")
    parsed = feedparser.parse(path.read_bytes())
    if parsed.bozo:
        problems.append(f"feedparser: {parsed.bozo_exception!r}")
    if parsed.version != "atom10":
        problems.append(f"feedparser reads version {parsed.version!r}, not atom10")
    if [e.get("id") for e in parsed.entries] != ids:
        problems.append(f"feedparser reads the ids {[e.get('id') for e in parsed.entries]}, not {ids}")
    summary = {
        "file": str(path),
        "entries": len(parsed.entries),
        "ids": ids,
        "titles": [e.get("title", "") for e in parsed.entries],
    }
    return problems, summary


def main(paths):
    schema = grammar()
    failed = False
    for name in paths:
        problems, summary = problems_of(Path(name), schema)
        for problem in problems:
            print(f"{name}: {problem}", file=sys.stderr)
        failed |= bool(problems)
        print(json.dumps(summary))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
