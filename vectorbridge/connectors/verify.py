"""Checking a copy against its source: ids, payloads, vectors, and the answers of searches.

:func:`verify_copy` streams the source again page by page and reads the same ids from the
destination, so its memory stays flat in the collection's size like the copy's. Vectors are
compared within float32 rounding (``FLOAT_TOLERANCE``, relative to the larger of 1 and the
vector's largest value; cosine vectors unit-length, since Qdrant stores them normalised),
binary vectors and token codes bit for bit. Searches are compared as the overlap of both sides' top 10 for a
reservoir sample of the source's own points as queries: exact engines agree completely; an
HNSW index may differ by its approximation, so agreement is reported, not judged.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from vectorbridge.connectors.base import Connector
from vectorbridge.connectors.filters import Filter, as_filter
from vectorbridge.connectors.results import Record
from vectorbridge.connectors.spec import CollectionSpec, FieldType

#: Largest difference, relative to max(1, the vector's largest value), of a float vector
#: read back: every engine stores float32 (a unit-length cosine vector moves by float32 rounding).
FLOAT_TOLERANCE = 1e-5

#: A record -> the record to write (another id, payload or vectors), or None to leave it out.
Transform = Callable[[Record], "Record | None"]

def stored_fields(spec: CollectionSpec) -> list[str]:
    """Fields with a vector to read (an engine-BM25 field's is derived from text)."""
    return [n for n, f in spec.fields.items() if not f.from_text]


def text_fields(spec: CollectionSpec) -> list[str]:
    return [n for n, f in spec.fields.items() if f.from_text]


def with_texts(spec: CollectionSpec, record: Record) -> Record:
    """The record with each engine-BM25 field's value: the text the engine derives it from."""
    texts = text_fields(spec)
    if not texts or spec.text_key is None:
        return record
    text = record.payload.get(spec.text_key)
    return Record(record.id, record.payload, {**record.vectors, **{n: text for n in texts}})


@dataclass
class Verification:
    """What a copy's check found (:func:`verify_copy`).

    Attributes:
        expected: Points the destination should hold (source points the filter and the
            transform kept).
        destination_count: Points the destination holds.
        missing: How many expected ids the destination lacks; ``missing_ids``: the first few.
        payload_mismatches: Points whose payload differs; ``mismatch_ids``: the first few of
            those and of the vector mismatches.
        vector_mismatches: ``{field: points}`` whose vector differs beyond float32 tolerance
            (cosine fields compared after normalising: Qdrant stores them unit-length).
        max_vector_error: ``{field: largest absolute difference seen}``.
        top10_agreement: ``{field: mean |top-10 source ∩ top-10 destination| / 10}`` over
            ``queries`` sample queries (each a sampled point's own vector, or the first words
            of its text for engine-BM25 fields). Exact engines agree at 1.0; an HNSW index
            on either side may differ by its approximation.
        queries: Sample queries per field.
    """

    expected: int = 0
    destination_count: int = 0
    missing: int = 0
    missing_ids: list[str] = field(default_factory=list)
    payload_mismatches: int = 0
    vector_mismatches: dict[str, int] = field(default_factory=dict)
    mismatch_ids: list[str] = field(default_factory=list)
    max_vector_error: dict[str, float] = field(default_factory=dict)
    top10_agreement: dict[str, float] = field(default_factory=dict)
    queries: int = 0

    @property
    def extra(self) -> int:
        """Destination points that are not copies of source points (e.g. written before)."""
        return self.destination_count - (self.expected - self.missing)

    @property
    def ok(self) -> bool:
        """Same id set, payloads and vectors (agreement of searches is reported, not judged:
        approximate indexes differ by design)."""
        return not (self.missing or self.extra or self.payload_mismatches
                    or any(self.vector_mismatches.values()))

    def summary(self) -> str:
        agree = ", ".join(f"{f} {a:.3f}" for f, a in self.top10_agreement.items()) or "-"
        return (f"{'OK' if self.ok else 'MISMATCH'}: {self.expected:,} expected, "
                f"{self.destination_count:,} in the destination, {self.missing} missing, "
                f"{self.extra} extra, {self.payload_mismatches} payloads and "
                f"{sum(self.vector_mismatches.values())} vectors differ; top-10 agreement over "
                f"{self.queries} queries: {agree}")


def verify_copy(src: Connector, src_collection: str, dst: Connector, dst_collection: str, *,
                filter: Filter | Mapping[str, Any] | None = None,
                transform: Transform | None = None, batch_size: int = 256,
                sample_queries: int = 20, seed: int = 0) -> Verification:
    """Check ``dst_collection`` against ``src_collection`` (as :func:`copy_collection` wrote
    it, with the same ``filter`` and ``transform``): streams the source again and reads the
    same ids from the destination, so memory stays flat; then compares the top 10 of sample
    queries on both sides."""
    flt = as_filter(filter)
    source, target = src.spec(src_collection), dst.spec(dst_collection)
    out = Verification(destination_count=dst.count(dst_collection))
    rng = random.Random(seed)
    sample: list[Record] = []  # reservoir of (transformed) source points: the queries
    seen = 0
    cursor: str | None = None
    readable = stored_fields(source)
    while True:
        page = src.scroll(src_collection, cursor, limit=batch_size, filter=flt,
                          with_vectors=readable or False)
        records = [with_texts(source, r) for r in page.records]
        if transform is not None:
            records = [t for t in map(transform, records) if t is not None]
        out.expected += len(records)
        stored = {r.id: r for r in dst.get(dst_collection, [r.id for r in records],
                                           with_vectors=stored_fields(target) or False)}
        for r in records:
            got = stored.get(r.id)
            if got is None:
                out.missing += 1
                if len(out.missing_ids) < 10:
                    out.missing_ids.append(r.id)
                continue
            differs = False
            if got.payload != r.payload:
                out.payload_mismatches += 1
                differs = True
            for name in stored_fields(target):
                err = vector_error(target.field(name), r.vectors.get(name), got.vectors.get(name))
                out.max_vector_error[name] = max(out.max_vector_error.get(name, 0.0), err)
                if err > _tolerance(target.field(name)):
                    out.vector_mismatches[name] = out.vector_mismatches.get(name, 0) + 1
                    differs = True
            if differs and len(out.mismatch_ids) < 10:
                out.mismatch_ids.append(r.id)
            seen += 1
            if len(sample) < sample_queries:
                sample.append(r)
            elif rng.random() < sample_queries / seen:
                sample[rng.randrange(sample_queries)] = r
        cursor = page.next_cursor
        if cursor is None:
            break
    out.queries = len(sample)
    for name, f in target.fields.items():
        if name not in source.fields or f.codes or not sample:
            continue
        overlaps = []
        for r in sample:
            value = r.vectors.get(name)
            q = None if value is None else f.sample_query(value)
            if q is None:
                continue
            a = {h.id for h in src.search(src_collection, name, q, k=10, filter=flt)}
            b = {h.id for h in dst.search(dst_collection, name, q, k=10)}
            overlaps.append(len(a & b) / max(1, min(10, len(a), len(b))) if a or b else 1.0)
        if overlaps:
            out.top10_agreement[name] = float(np.mean(overlaps))
    return out


def _tolerance(f: FieldType) -> float:
    return 0.0 if f.bitwise else FLOAT_TOLERANCE


def vector_error(f: FieldType, expected: Any, got: Any) -> float:
    """The largest difference between a vector written and the one read back, for floats
    relative to the larger of 1 and its largest value (0 = identical; ``inf`` when one is
    missing or shapes differ).
    Cosine vectors are compared unit-length: Qdrant stores them normalised."""
    if expected is None or got is None:
        return 0.0 if expected is None and got is None else float("inf")
    return f.difference(expected, got)


__all__ = ["verify_copy", "Verification", "vector_error", "FLOAT_TOLERANCE", "Transform",
           "stored_fields", "text_fields", "with_texts"]
