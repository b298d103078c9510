"""Assemble README.md from its head and the topic files in docs/.

README.md is what a newcomer reads first, but each topic is written in its own file under
docs/ so that work on one topic never collides with work on another. Everything in
README.md up to the fragments marker is the head (the two commands, layout,
configuration, the API); everything after it is ``DOCS`` below, in that order.

    python scripts/readme.py          # rewrite README.md from docs/
    python scripts/readme.py --check  # exit 1 if README.md is not what docs/ make (CI)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARKER = "<!-- fragments: sections below come from docs/*.md -->"
DOCS = [
    "expert_loop", "scale_out", "studio", "genmqd", "crowd", "manager", "encoders", "training", "evaluation",
    "aggregation", "hardening", "benchmarks", "libraries", "limitations",
]


def assemble(readme: str) -> str:
    head, found, _ = readme.partition(MARKER)
    if not found:
        raise SystemExit(f"README.md has no fragments marker ({MARKER})")
    parts = [(ROOT / "docs" / f"{name}.md").read_text(encoding="utf-8").strip("\n") for name in DOCS]
    return head + MARKER + "\n\n" + "\n\n".join(parts) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that README.md is up to date")
    args = parser.parse_args()
    current = README.read_text(encoding="utf-8")
    wanted = assemble(current)
    if args.check:
        if current != wanted:
            print("README.md is out of date with docs/: run python scripts/readme.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
