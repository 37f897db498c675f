"""BM25 as sparse vectors: hashed term ids, saturated term frequencies, IDF by engine or client.

Why hashing: term ids come from a hash of the (stemmed) term, not from a vocabulary built on
the corpus, so adding documents never renumbers terms and never forces re-indexing. Ids are
64-bit BLAKE2b digests reduced to the ``[0, 2**32 - 1)`` range both engines accept. Two distinct
terms collide with probability ~1/2**32; in a vocabulary of V terms a given term shares its id
with another with probability ~V/2**32 (0.02 % for a million terms, 1.2e-4 % for SciFact's
~50k), i.e. collisions are negligible for ranking.

Why split the formula: a document vector holds the BM25 term-frequency part, which depends
only on the document (and the average document length); the IDF part depends on the whole
collection and changes as it grows. With ``idf="engine"`` queries carry term counts and the
engine multiplies by IDF at query time (Qdrant's sparse ``Modifier.IDF`` computes
``ln(1 + (N - df + 0.5) / (df + 0.5))``, the same formula as Lucene and bm25s' default).
With ``idf="client"`` (engines without an IDF modifier, e.g. Milvus Lite on hashed terms) the
encoder keeps document frequencies from :meth:`BM25Encoder.fit` / :meth:`partial_fit` and
puts IDF into the query weights; either way, score = sum over query terms of
``count * idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from vectorbridge.encoders._serial import serialized
from vectorbridge.encoders.types import MAX_SPARSE_INDEX, SparseVector, check_texts
from vectorbridge.errors import InvalidInputError
from vectorbridge.extras import requires
from vectorbridge.options import checked_keywords

with requires("bm25", "BM25Encoder"):
    import Stemmer
    from bm25s.tokenization import _infer_stopwords

IdfMode = Literal["engine", "client"]
IDF_MODES: tuple[str, ...] = ("engine", "client")
_FORMAT = "vectorbridge.bm25/1"
#: bm25s' (and scikit-learn's CountVectorizer's) token pattern.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
#: Stems remembered per encoder before the memo starts over (bounds memory on endless
#: vocabularies; a typical corpus has far fewer distinct tokens).
_MAX_MEMO = 1_000_000


def term_id(term: str) -> int:
    """Stable 32-bit id of a term (BLAKE2b, independent of the corpus and of the process)."""
    digest = hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % (MAX_SPARSE_INDEX + 1)


class BM25Encoder:
    """Text -> BM25 :class:`SparseVector` with stable hashed term ids.

    Tokenisation is bm25s' (lower-case, ``\\w\\w+`` tokens, its English stopword list) with a
    PyStemmer Snowball stemmer, so rankings equal bm25s' on the same text.

    Args:
        k1: Term-frequency saturation (Lucene default 1.2).
        b: Document-length normalisation (0 = none, 1 = full).
        language: Snowball stemmer language (PyStemmer name), or ``None`` for no stemming.
        stopwords: bm25s stopword list name (``"en"``) or a list of words, or ``None``.
        idf: ``"engine"`` (queries carry term counts; the engine applies IDF) or ``"client"``
            (queries carry ``count * idf`` from statistics this encoder was fitted on).
        avg_doc_len: Fix the average document length instead of learning it in :meth:`fit`.

    Examples:
        >>> enc = BM25Encoder(idf="client").fit(["a cat sat", "a dog ran", "cats and dogs"])
        >>> docs = enc.encode_documents(["a cat sat", "a dog ran", "cats and dogs"])
        >>> q = enc.encode_queries(["cat"])[0]
        >>> [round(q.dot(d), 3) > 0 for d in docs]
        [True, False, True]
    """

    @checked_keywords
    def __init__(
        self,
        *,
        k1: float = 1.2,
        b: float = 0.75,
        language: str | None = "english",
        stopwords: str | list[str] | None = "en",
        idf: IdfMode = "engine",
        avg_doc_len: float | None = None,
    ) -> None:
        if idf not in IDF_MODES:
            raise InvalidInputError(f"idf={idf!r} is not one of {IDF_MODES}.")
        if k1 < 0 or not 0 <= b <= 1:
            raise InvalidInputError(f"need k1 >= 0 and 0 <= b <= 1; got k1={k1}, b={b}.")
        if avg_doc_len is not None and avg_doc_len <= 0:
            raise InvalidInputError(f"avg_doc_len must be > 0, got {avg_doc_len}.")
        self.k1, self.b, self.idf = float(k1), float(b), idf
        self.language, self.stopwords = language, stopwords
        if language and language not in Stemmer.algorithms():
            raise InvalidInputError(f"language={language!r} has no Snowball stemmer; use one of "
                                    f"{sorted(Stemmer.algorithms())} or None (no stemming).")
        self._stemmer = Stemmer.Stemmer(language) if language else None
        try:
            self._stop = frozenset(_infer_stopwords(stopwords) if stopwords else ())
        except ValueError as e:
            raise InvalidInputError(f"stopwords={stopwords!r}: {e}") from None
        self._stems: dict[str, str] = {}
        self._fixed_avgdl = avg_doc_len
        self.n_docs = 0
        self.total_len = 0
        self.doc_freq: Counter[int] = Counter()
        self._ids: dict[str, int] = {}
        #: Whether the statistics are a collection's own: set by a retriever that fitted them on
        #: its first chunk, which then adds every later chunk it writes (``partial_fit``), so a
        #: client-side IDF follows the collection as it grows. Statistics fitted by hand stay.
        self.follows_writes = False

    # tokenisation ---------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        """Stemmed, stopword-free tokens of each text, equal to ``bm25s.tokenize``'s.

        Re-stated rather than called: bm25s builds three tqdm bars and a vocabulary per call,
        which for a single query cost more than the whole Qdrant Edge search it feeds. Here the stopword set is resolved once and stems are memoised per token.
        (Tested equal to ``bm25s.tokenize`` on SciFact-like text.)"""
        return [self._tokens(t) for t in check_texts(texts)]

    def _tokens(self, text: str) -> list[str]:
        stop = self._stop
        toks = [t for t in _TOKEN.findall(text.lower()) if t not in stop]
        if self._stemmer is None:
            return toks
        memo = self._stems
        new = [t for t in dict.fromkeys(toks) if t not in memo]
        if new:
            if len(memo) + len(new) > _MAX_MEMO:
                memo.clear()
            memo.update(zip(new, self._stemmer.stemWords(new)))
        return [memo[t] for t in toks]

    def _term_ids(self, tokens: list[str]) -> list[int]:
        ids = self._ids
        out = []
        for t in tokens:
            i = ids.get(t)
            if i is None:
                i = ids[t] = term_id(t)
            out.append(i)
        return out

    # statistics -----------------------------------------------------------------------------
    @property
    def avg_doc_len(self) -> float | None:
        """Average document length in tokens (fixed, or learned by ``fit``); None if unfitted."""
        if self._fixed_avgdl is not None:
            return self._fixed_avgdl
        return self.total_len / self.n_docs if self.n_docs else None

    @serialized
    def fit(self, texts: Sequence[str]) -> "BM25Encoder":
        """Learn corpus statistics (document count, frequencies, average length) from scratch."""
        self.n_docs, self.total_len, self.doc_freq = 0, 0, Counter()
        return self.partial_fit(texts)

    @serialized
    def partial_fit(self, texts: Sequence[str]) -> "BM25Encoder":
        """Add documents to the statistics (for client-side IDF over a growing collection).

        Document vectors already stored stay valid unless ``avg_doc_len`` was learned and moves
        a lot; fix it with ``avg_doc_len=`` when the corpus will grow by orders of magnitude.
        """
        for toks in self.tokenize(texts):
            ids = self._term_ids(toks)
            self.n_docs += 1
            self.total_len += len(ids)
            self.doc_freq.update(set(ids))
        return self

    @serialized
    def idf_of(self, term_ids: np.ndarray) -> np.ndarray:
        """Lucene IDF ``ln(1 + (N - df + 0.5) / (df + 0.5))`` of hashed term ids."""
        if not self.n_docs:
            raise InvalidInputError(
                "client-side IDF needs corpus statistics: call fit(corpus) (or partial_fit) first."
            )
        df = np.array([self.doc_freq.get(int(t), 0) for t in term_ids], dtype=np.float64)
        return bm25_idf(self.n_docs, df)

    # encoding -------------------------------------------------------------------------------
    @serialized
    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        """BM25 term-frequency weights of documents.

        If the encoder was never fitted and has no fixed ``avg_doc_len``, it first fits on
        ``texts`` (so the first batch defines the average length); fit on the corpus for
        stable weights across batches.
        """
        texts = check_texts(texts)
        if self.avg_doc_len is None:
            self.fit(texts)
        avgdl = self.avg_doc_len or 1.0
        out = []
        for toks in self.tokenize(texts):
            idx, tf = self._counts(toks)
            norm = self.k1 * (1.0 - self.b + self.b * len(toks) / avgdl)
            out.append(SparseVector._trusted(idx, tf * (self.k1 + 1.0) / (tf + norm)))
        return out

    @serialized
    def encode_queries(self, texts: Sequence[str]) -> list[SparseVector]:
        """Query vectors: term counts (``idf="engine"``) or counts times IDF (``"client"``)."""
        return [self.query_vector(v) for v in self.term_counts(texts)]

    @serialized
    def term_counts(self, texts: Sequence[str]) -> list[SparseVector]:
        """Raw term counts per text (hashed term ids): the statistics query expansion (RM3)
        builds its term distributions from."""
        return [SparseVector._trusted(*self._counts(toks)) for toks in self.tokenize(texts)]

    @serialized
    def query_vector(self, weights: SparseVector) -> SparseVector:
        """A query from per-term weights (counts, or an expanded query's term probabilities):
        unchanged for ``idf="engine"``, times IDF for ``"client"``."""
        if self.idf == "client" and len(weights.indices):
            return SparseVector._trusted(weights.indices, weights.values * self.idf_of(weights.indices))
        return weights

    def _counts(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Sorted unique term ids of ``tokens`` and how often each occurs: a valid sparse
        vector's layout by construction (ids are hashes in range, counts positive), so the
        encoders wrap it unchecked."""
        counts = Counter(self._term_ids(tokens))
        ids = sorted(counts)
        return (np.array(ids, dtype=np.int64),
                np.array([counts[i] for i in ids], dtype=np.float64))

    # persistence ----------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write parameters and statistics as JSON (no pickle)."""
        state = {
            "format": _FORMAT, "k1": self.k1, "b": self.b, "language": self.language,
            "stopwords": self.stopwords, "idf": self.idf, "avg_doc_len": self._fixed_avgdl,
            "n_docs": self.n_docs, "total_len": self.total_len,
            "doc_freq": {str(k): v for k, v in self.doc_freq.items()},
            "follows_writes": self.follows_writes,
        }
        Path(path).write_text(json.dumps(state))

    @classmethod
    def load(cls, path: str | Path) -> "BM25Encoder":
        """Read an encoder written by :meth:`save`."""
        state = json.loads(Path(path).read_text())
        if state.get("format") != _FORMAT:
            raise InvalidInputError(f"{path} is not a {_FORMAT} file (format={state.get('format')!r}).")
        enc = cls(k1=state["k1"], b=state["b"], language=state["language"],
                  stopwords=state["stopwords"], idf=state["idf"], avg_doc_len=state["avg_doc_len"])
        enc.n_docs, enc.total_len = int(state["n_docs"]), int(state["total_len"])
        enc.doc_freq = Counter({int(k): int(v) for k, v in state["doc_freq"].items()})
        enc.follows_writes = bool(state.get("follows_writes", False))
        return enc

    def __repr__(self) -> str:
        return (f"BM25Encoder(k1={self.k1}, b={self.b}, idf={self.idf!r}, n_docs={self.n_docs}, "
                f"avg_doc_len={self.avg_doc_len})")


def bm25_idf(n_docs: int, doc_freq: np.ndarray) -> np.ndarray:
    """The IDF Qdrant's ``Modifier.IDF`` and Lucene use: ``ln(1 + (N - df + 0.5)/(df + 0.5))``."""
    return np.log1p((n_docs - doc_freq + 0.5) / (doc_freq + 0.5))


__all__ = ["BM25Encoder", "term_id", "bm25_idf", "IDF_MODES"]
