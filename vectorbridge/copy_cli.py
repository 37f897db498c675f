"""``vectorbridge copy SRC DST``: :func:`~vectorbridge.connectors.copy_collection` from the
command line, on collections named ``ENGINE:WHERE#COLLECTION`` (:mod:`vectorbridge.connectors.uri`).

    vectorbridge copy milvus-lite:./old.db#docs qdrant-edge:./qdrant_data#docs
    vectorbridge copy qdrant-edge:./data#docs milvus:http://localhost:19530#docs \\
        --journal docs.copy --filter '{"lang": "en"}' --batch-size 512

Re-run the same command after an interruption (with ``--journal``): it resumes after the last
acknowledged page. The exit status is 0 when the verification found the copy whole, 1 when it
did not, 2 when it stopped on an error (refusals come before any write; after another error,
re-run the same command with ``--journal`` to resume).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from vectorbridge.errors import VectorBridgeError


def parser() -> argparse.ArgumentParser:
    from vectorbridge.connectors.uri import SCHEMES

    ap = argparse.ArgumentParser(prog="vectorbridge copy", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", help="ENGINE:WHERE#COLLECTION to read (a collection or an alias)")
    ap.add_argument("dst", help="ENGINE:WHERE#COLLECTION to write (created when missing); "
                                f"ENGINE: {', '.join(sorted(SCHEMES))}")
    ap.add_argument("--filter", default=None,
                    help='copy only the points a filter dict matches, as JSON: \'{"lang": "en"}\'')
    ap.add_argument("--batch-size", type=int, default=256, help="points per page (default 256)")
    ap.add_argument("--journal", default=None,
                    help="file of acknowledged pages: re-run the same command to resume")
    ap.add_argument("--no-verify", action="store_true", help="skip the second read that checks")
    ap.add_argument("--queries", type=int, default=20,
                    help="sample queries per field for the top-10 agreement (default 20)")
    ap.add_argument("--no-progress", action="store_true")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from vectorbridge.connectors import copy_collection
    from vectorbridge.connectors.uri import open_uri

    try:
        flt = json.loads(args.filter) if args.filter else None
    except ValueError as e:
        print(f"vectorbridge copy: --filter is not JSON ({e})", file=sys.stderr)
        return 2
    opened = []
    try:
        src, src_name = open_uri(args.src)
        opened.append(src)
        dst, dst_name = open_uri(args.dst)
        opened.append(dst)
        report = copy_collection(src, src_name, dst, dst_name, filter=flt,
                                 batch_size=args.batch_size, journal=args.journal,
                                 progress=not args.no_progress, verify=not args.no_verify,
                                 sample_queries=args.queries)
    except VectorBridgeError as e:
        print(f"vectorbridge copy: {e}", file=sys.stderr)
        return 2
    finally:
        for c in opened:
            c.close()
    print(report.summary())
    return 0 if report.verification is None or report.verification.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
