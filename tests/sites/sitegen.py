"""What the site generators share (make-valid.py, make-broken-framework.py): the minimal site's
body (without its modeline and header comment) and exact-once text replacement."""

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
BASE = (HERE / "minimal.yaml").read_text()
BODY = "".join(l for l in BASE.splitlines(keepends=True)[3:])


def mutate(text, *pairs):
    """Applies each (old, new) replacement; every `old` must occur exactly once."""
    for old, new in pairs:
        n = text.count(old)
        if n != 1:
            sys.exit(f"mutation anchor found {n} times (want 1): {old!r}")
        text = text.replace(old, new)
    return text
