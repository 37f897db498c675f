"""The ``vectorbridge`` command: ``vectorbridge bench DATA ...``, ``vectorbridge copy SRC DST``
and ``vectorbridge demo ...``."""

from __future__ import annotations

import sys
from typing import Sequence

USAGE = """usage: vectorbridge {bench,copy,demo} ...

  bench DATA   quality, latency, size and ingest of every pipeline on a BEIR folder,
               side by side with langchain-qdrant / langchain-milvus (vectorbridge bench -h)
  copy SRC DST a collection from any engine to any other, streamed, resumable, verified
               (SRC / DST: ENGINE:WHERE#COLLECTION; vectorbridge copy -h)
  demo         the Quick start's main job: index a sample, query it (vectorbridge demo -h)
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    command, rest = args[0], args[1:]
    if command == "bench":
        from vectorbridge.bench.cli import main as bench

        return bench(rest)
    if command == "copy":
        from vectorbridge.copy_cli import main as copy

        return copy(rest)
    if command == "demo":
        from vectorbridge.demo import main as demo

        demo(rest)
        return 0
    print(f"unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
