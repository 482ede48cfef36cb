"""Checks OpenVEX documents against the OpenVEX JSON schema, with an
implementation independent of ecrscan's (python-jsonschema, draft 2020-12,
formats checked).

    python check_openvex.py DOCUMENT...

The schema beside this script, openvex_json_schema_0.2.0.json, is a
verbatim copy of openvex_json_schema.json in github.com/openvex/spec at
commit d29fab0c81cfea04159436d54c3edc32947039ac (its $id names v0.2.0).
Prints one JSON line per document, {"file", "statements"}, and the problems
on stderr; exits 1 if any document has one.
"""

import json
import sys
from pathlib import Path

from jsonschema import Draft202012Validator

CONTEXT = "https://openvex.dev/ns/v0.2.0"


def main(paths):
    schema = json.loads((Path(__file__).parent / "openvex_json_schema_0.2.0.json").read_text())
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    failed = False
    for path in paths:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        problems = [
            f"{'/'.join(str(p) for p in error.absolute_path) or '(document)'}: {error.message}"
            for error in validator.iter_errors(document)
        ]
        # The schema leaves @context open; v0.2.0 readers (Grype's go-vex) want this one.
        if document.get("@context") != CONTEXT:
            problems.append(f"@context is not {CONTEXT}")
        for problem in problems:
            print(f"{path}: {problem}", file=sys.stderr)
        failed |= bool(problems)
        print(json.dumps({"file": Path(path).name, "statements": len(document.get("statements", []))}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
