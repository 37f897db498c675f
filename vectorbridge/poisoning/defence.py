"""Flagging poisoned passages, at ingest and at query time.

A passage crafted for an embedding model (:mod:`~vectorbridge.poisoning.attack`) has to be
two things at once: its *embedding* sits where a topic's queries land, and its *text* is
whatever token sequence got it there. Honest passages are the same thing twice: their words
are the corpus' words, and documents that share their words share their meaning. So each
passage gets three signals, each scored against the clean corpus it was fitted on:

- **unseen terms**: the share of its distinct terms no other document contains (gradient
  search produces word pieces glued into non-words);
- **lexical-dense disagreement**: one minus the cosine between its embedding and the mean
  embedding of its nearest documents by BM25 (an honest passage's lexical neighbours are also
  its semantic ones; an adversarial one's words point elsewhere than its vector);
- **hubness** (with a query log, ``probe_queries``): the share of those queries whose top
  ``k`` it would enter; a passage aimed at a topic's centre is a top-10 hit for many;
- **disfluency** (with a masked language model, ``fluency=``): minus the text's
  pseudo-log-likelihood (:mod:`~vectorbridge.poisoning.fluency`): the perplexity filter
  the poisoning literature weighs, here with any small masked LM available offline.

Each signal becomes a tail probability against the clean passages' values (the share of
clean passages at least as extreme), and a passage's suspicion is Fisher's combination, the
sum of their logarithms: an honest outlier is extreme on one signal (a rare gene name, an
unusual topic), a crafted passage on several at once. A passage is flagged when its
suspicion is at most the threshold that flags ``fpr`` of the clean corpus.

At ingest, :meth:`PoisonDetector.mark` writes the flag into each payload; at query time
:meth:`PoisonDetector.exclude` is the filter that drops flagged passages in every branch
of a search (candidates are chosen without them, not removed afterwards), so a flagged
passage costs nothing but its own absence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vectorbridge.connectors.filters import F, Filter
from vectorbridge.encoders._codes import _as_matrix, load_npz, save_npz, topk, unit
from vectorbridge.encoders.bm25 import BM25Encoder
from vectorbridge.errors import InvalidInputError

_FORMAT = "vectorbridge.poison_detector/1"
SIGNALS = ("unseen_terms", "disagreement", "hubness", "disfluency")
_ROWS = 512  # passages scored per matrix product


class PoisonDetector:
    """Scores passages for signs of corpus poisoning against a clean reference corpus.

    Args:
        fpr: Share of the clean corpus the flag threshold lets through as false positives.
        neighbours: BM25 neighbours whose mean embedding a passage's embedding is compared to.
        k: The top-k a passage must enter to count towards a probe query's hubness.
        key: Payload key :meth:`mark` writes and :meth:`exclude` filters on.
        fluency: A :class:`~vectorbridge.poisoning.fluency.MaskedLMFluency` or the folder of
            a masked language model: adds the disfluency signal (slower: one forward pass
            per token).

    Examples:
        >>> det = PoisonDetector().fit(texts, vectors, probe_queries=log)  # doctest: +SKIP
        >>> metadatas = det.mark(new_texts, new_vectors, metadatas)                # doctest: +SKIP
        >>> retriever.invoke(query, filter=det.exclude())                          # doctest: +SKIP
    """

    def __init__(self, *, fpr: float = 0.001, neighbours: int = 10, k: int = 10,
                 key: str = "vb_suspect", fluency: Any = None) -> None:
        if isinstance(fpr, bool) or not 0.0 < float(fpr) < 1.0:
            raise InvalidInputError(f"fpr must be a share in (0, 1), got {fpr!r}.")
        for name, v in (("neighbours", neighbours), ("k", k)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidInputError(f"{name} must be a positive int, got {v!r}.")
        self.fpr, self.neighbours, self.k, self.key = float(fpr), neighbours, k, key
        if fluency is not None and not hasattr(fluency, "score"):
            from vectorbridge.poisoning.fluency import MaskedLMFluency

            fluency = MaskedLMFluency(fluency)
        self.fluency = fluency
        self.bm25: BM25Encoder | None = None
        self.vectors: np.ndarray | None = None  # the clean corpus' unit vectors
        self.vocab: np.ndarray | None = None  # the clean corpus' term ids, sorted
        self.doc_terms: Any = None  # CSR (n_docs, len(vocab)) BM25 weights of the clean corpus
        self.doc_freq: dict[str, int] = {}
        self.probes: np.ndarray | None = None  # unit probe queries
        self.probe_kth: np.ndarray | None = None  # each probe's k-th best clean score
        self.clean: dict[str, np.ndarray] = {}  # sorted clean values per signal
        self.threshold: float | None = None
        self.corpus_signals: dict[str, np.ndarray] = {}  # the fitted passages' own signals
        self.corpus_suspicion: np.ndarray | None = None

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, texts: Sequence[str], vectors: object,
            probe_queries: object = None) -> "PoisonDetector":
        """Learn the clean corpus (``texts`` and their dense ``vectors``) and, optionally, a
        query log (``probe_queries``: query vectors of real traffic) for hubness."""
        texts = list(texts)
        X = unit(_as_matrix(vectors, "vectors"))
        if len(texts) != len(X) or len(X) <= self.neighbours:
            raise InvalidInputError(f"fit needs as many texts as vectors ({len(texts)} vs {len(X)})"
                                    f" and more than neighbours={self.neighbours} of them.")
        self.bm25 = BM25Encoder(idf="client").fit(texts)
        self.vectors = X
        doc_vectors = self.bm25.encode_documents(texts)
        self.vocab = np.unique(np.concatenate([v.indices for v in doc_vectors]))
        self.doc_terms = _matrix(doc_vectors, self.vocab)
        self.doc_freq = {}
        for terms in self.bm25.tokenize(texts):
            for t in set(terms):
                self.doc_freq[t] = self.doc_freq.get(t, 0) + 1
        if probe_queries is not None:
            P = unit(_as_matrix(probe_queries, "probe_queries", X.shape[1]))
            self.probes = P
            self.probe_kth = np.concatenate([topk(P[s:s + _ROWS] @ X.T, self.k)[0][:, -1]
                                             for s in range(0, len(P), _ROWS)])
        self.corpus_signals = self._signals(texts, X, clean=True)
        self.clean = {name: np.sort(v) for name, v in self.corpus_signals.items()}
        self.corpus_suspicion = self._suspicion(self.corpus_signals)
        self.threshold = _threshold(self.corpus_suspicion, self.fpr)
        return self

    @property
    def corpus_flags(self) -> np.ndarray:
        """The flags of the fitted corpus' own passages (each measured without itself: the
        way to mark a corpus at its first ingest; about ``fpr`` of them are set)."""
        if self.corpus_suspicion is None:
            raise InvalidInputError("corpus_flags are known after fit(), not after load(): "
                                    "score the corpus with flag(texts, vectors).")
        return self.corpus_suspicion <= self.threshold

    # -- scoring ---------------------------------------------------------------------------
    def signals(self, texts: Sequence[str], vectors: object) -> dict[str, np.ndarray]:
        """The raw signals of new passages, higher = more suspicious."""
        self._check_fitted()
        texts = list(texts)
        X = unit(_as_matrix(vectors, "vectors", self.vectors.shape[1]))  # type: ignore[union-attr]
        if len(texts) != len(X):
            raise InvalidInputError(f"{len(texts)} texts but {len(X)} vectors.")
        return self._signals(texts, X, clean=False)

    def suspicion(self, texts: Sequence[str], vectors: object) -> np.ndarray:
        """Each passage's Fisher combination of its tail probabilities against the clean
        corpus: the sum of their natural logarithms (<= 0; lower = more suspicious)."""
        return self._suspicion(self.signals(texts, vectors))

    def flag(self, texts: Sequence[str], vectors: object) -> np.ndarray:
        """Whether each passage is flagged (suspicion below the ``fpr`` threshold)."""
        return self.suspicion(texts, vectors) <= self.threshold

    def mark(self, texts: Sequence[str], vectors: object,
             metadatas: Sequence[dict[str, Any] | None] | None = None) -> list[dict[str, Any]]:
        """Metadatas with ``key`` set to each passage's flag, for the payloads of an ingest."""
        flags = self.flag(texts, vectors)
        metas = list(metadatas) if metadatas is not None else [None] * len(flags)
        if len(metas) != len(flags):
            raise InvalidInputError(f"{len(flags)} texts but {len(metas)} metadatas.")
        return [{**(m or {}), self.key: bool(f)} for m, f in zip(metas, flags)]

    def exclude(self) -> Filter:
        """The filter that keeps unflagged passages (pass it as ``filter=``; combine with
        ``&``): applied where the engine chooses candidates, in every branch."""
        return F(self.key) == False  # noqa: E712 - a filter expression, not a comparison

    # -- internals ---------------------------------------------------------------------------
    def _signals(self, texts: list[str], X: np.ndarray, clean: bool) -> dict[str, np.ndarray]:
        own = 1 if clean else 0  # a clean passage is in the statistics itself
        unseen = []
        for terms in self.bm25.tokenize(texts):  # type: ignore[union-attr]
            distinct = set(terms)
            unseen.append(sum(self.doc_freq.get(t, 0) - own <= 0 for t in distinct) /
                          max(len(distinct), 1))
        out = {"unseen_terms": np.array(unseen), "disagreement": self._disagreement(texts, X, clean)}
        if self.probes is not None:
            S = self.probes @ X.T  # (probes, passages)
            if clean:  # a clean passage is among the top k it is measured against: >= kth
                out["hubness"] = (S >= self.probe_kth[:, None] - 1e-6).mean(axis=0)
            else:
                out["hubness"] = (S >= self.probe_kth[:, None]).mean(axis=0)
        if self.fluency is not None:
            out["disfluency"] = -self.fluency.score(texts)
        return out

    def _disagreement(self, texts: list[str], X: np.ndarray, clean: bool) -> np.ndarray:
        Qm = _matrix(self.bm25.encode_queries(texts), self.vocab)  # type: ignore[union-attr]
        out = np.empty(len(texts))
        for s in range(0, len(texts), _ROWS):
            lex = (Qm[s:s + _ROWS] @ self.doc_terms.T).toarray()
            if clean:  # not its own neighbour
                lex[np.arange(lex.shape[0]), np.arange(s, s + lex.shape[0])] = -np.inf
            _, idx = topk(lex, self.neighbours)
            centre = unit(self.vectors[idx].mean(axis=1))  # type: ignore[index]
            out[s:s + _ROWS] = 1.0 - np.einsum("nd,nd->n", centre, X[s:s + _ROWS])
        return out

    def _suspicion(self, values: dict[str, np.ndarray]) -> np.ndarray:
        total = np.zeros(len(next(iter(values.values()))))
        for name, v in values.items():
            ref = self.clean[name]
            at_least = len(ref) - np.searchsorted(ref, v, side="left")  # clean values >= v
            total += np.log((at_least + 1) / (len(ref) + 1))
        return total

    def _check_fitted(self) -> None:
        if self.bm25 is None:
            raise InvalidInputError("this PoisonDetector is not fitted: call fit(texts, vectors) "
                                    "or PoisonDetector.load(path) first.")

    # -- persistence -----------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the fitted detector as ``.npz`` + JSON config (no pickle); the BM25 model
        goes to ``path`` + ``.bm25.npz``."""
        self._check_fitted()
        self.bm25.save(f"{path}.bm25.npz")  # type: ignore[union-attr]
        m = self.doc_terms
        arrays = {"vectors": self.vectors, "vocab": self.vocab, "indptr": m.indptr, "indices": m.indices, "data": m.data,
                  "terms": np.array(list(self.doc_freq), dtype=str),
                  "freq": np.array(list(self.doc_freq.values()), dtype=np.int64),
                  **{f"clean_{k}": v for k, v in self.clean.items()}}
        if self.probes is not None:
            arrays |= {"probes": self.probes, "probe_kth": self.probe_kth}
        save_npz(path, {"format": _FORMAT, "fpr": self.fpr, "neighbours": self.neighbours,
                        "k": self.k, "key": self.key, "threshold": self.threshold,
                        "fluency": getattr(self.fluency, "path", None),
                        "shape": list(m.shape)}, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "PoisonDetector":
        from scipy.sparse import csr_matrix

        cfg, a = load_npz(path, _FORMAT)
        det = cls(fpr=cfg["fpr"], neighbours=cfg["neighbours"], k=cfg["k"], key=cfg["key"],
                  fluency=cfg.get("fluency"))
        det.bm25 = BM25Encoder.load(f"{path}.bm25.npz")
        det.vectors, det.vocab, det.threshold = a["vectors"], a["vocab"], cfg["threshold"]
        det.doc_terms = csr_matrix((a["data"], a["indices"], a["indptr"]), shape=tuple(cfg["shape"]))
        det.doc_freq = dict(zip(a["terms"].tolist(), a["freq"].tolist()))
        det.clean = {k.removeprefix("clean_"): v for k, v in a.items() if k.startswith("clean_")}
        det.probes, det.probe_kth = a.get("probes"), a.get("probe_kth")
        return det

    def __repr__(self) -> str:
        return (f"PoisonDetector(fpr={self.fpr}, neighbours={self.neighbours}, k={self.k}, "
                f"fluency={getattr(self.fluency, 'path', None)!r})")


def _threshold(suspicion: np.ndarray, fpr: float) -> float:
    """The largest suspicion value that flags at most ``fpr`` of these (clean) passages
    (below all of them, flagging none, when even the smallest is shared by more)."""
    values = np.unique(suspicion)
    share = np.searchsorted(np.sort(suspicion), values, side="right") / len(suspicion)
    ok = values[share <= fpr]
    return float(ok[-1]) if len(ok) else float(values[0]) - 1.0



def _matrix(vectors: Sequence[Any], vocab: np.ndarray) -> Any:
    """Sparse vectors as a CSR matrix over the corpus' term ids ``vocab`` (sorted; hashed
    ids renumbered to columns, terms outside it dropped: they match no document)."""
    from scipy.sparse import csr_matrix

    cols = [np.searchsorted(vocab, v.indices) for v in vectors]
    keep = [(c < len(vocab)) & (vocab[np.minimum(c, len(vocab) - 1)] == v.indices)
            for c, v in zip(cols, vectors)]
    indptr = np.cumsum([0] + [int(k.sum()) for k in keep])
    indices = np.concatenate([c[k] for c, k in zip(cols, keep)]) if vectors else np.zeros(0, int)
    data = np.concatenate([v.values[k] for v, k in zip(vectors, keep)]) if vectors else np.zeros(0)
    return csr_matrix((data, indices, indptr), shape=(len(vectors), len(vocab)))


__all__ = ["PoisonDetector", "SIGNALS"]
