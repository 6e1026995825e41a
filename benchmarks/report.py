"""``python -m benchmarks.report``: write a run's numbers into the docs, from its JSON alone.

The pages hold generated sections between markers, ``<!-- benchmarks:NAME -->`` and
``<!-- /benchmarks:NAME -->``; this rewrites each from the records (``--json``, by default the
committed full run) so the pages cannot disagree with the suite's output or with each other.
``--check`` only reports pages that are out of date (exit status 1); ``--chart`` also redraws
the chart (matplotlib).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks import table
from benchmarks.records import Record

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "full.json"
PAGES = (ROOT / "docs" / "performance.md", ROOT / "README.md")

SECTIONS: dict[str, Callable[[Sequence[Record]], str]] = {
    "machine": table.machine,
    "settings": table.settings,
    "table": table.table,
    "targets": table.targets,
}
_MARKED = re.compile(r"(<!-- benchmarks:(\w+) -->\n)(.*?)(<!-- /benchmarks:\2 -->)", re.DOTALL)


def load(path: Path = RESULTS) -> list[Record]:
    """The records of a run's JSON file."""
    records = json.loads(path.read_text())
    if not isinstance(records, list):
        raise SystemExit(f"{path}: expected a JSON list of records")
    return records


def rewrite(text: str, records: Sequence[Record]) -> str:
    """``text`` with every marked section regenerated from ``records``.

    Raises:
        ValueError: a section name is unknown.
    """

    def section(match: re.Match[str]) -> str:
        start, name, _, end = match.groups()
        if name not in SECTIONS:
            raise ValueError(f"unknown section {name!r}; known: {', '.join(SECTIONS)}")
        return f"{start}{SECTIONS[name](records)}{end}"

    return _MARKED.sub(section, text)


def sections_in(text: str) -> list[str]:
    """The names of the marked sections of ``text``, in order."""
    return [match.group(2) for match in _MARKED.finditer(text)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__)
    parser.add_argument("--json", type=Path, default=RESULTS, help="the run's records")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if stale")
    parser.add_argument("--chart", type=Path, help="also redraw the chart here")
    args = parser.parse_args(argv)
    records = load(args.json)
    stale = []
    for page in PAGES:
        text = page.read_text()
        new = rewrite(text, records)
        if new != text:
            stale.append(page)
            if not args.check:
                page.write_text(new)
    for page in stale:
        verb = "is out of date" if args.check else "rewritten"
        print(f"{page.relative_to(ROOT)} {verb}", file=sys.stderr if args.check else sys.stdout)
    if args.chart:
        from benchmarks.chart import draw

        draw(records, args.json, args.chart)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
