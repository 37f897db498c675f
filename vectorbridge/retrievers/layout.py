"""What a retriever's encoders imply for storage: fields, the collection spec, fingerprints.

:class:`Layout` is built once from a retriever's options. Writing (``from_texts``,
``add_texts``) asks it for the vectors and the spec of a batch of texts; reading asks it to
check that the collection was built by the same quantizer / FDE / codec configuration. So the
mapping "encoder -> field" lives in one place, and a new field kind is one more branch here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vectorbridge.connectors.engine import Capabilities
from vectorbridge.connectors.results import unit_rows
from vectorbridge.connectors.spec import BinaryField, CollectionSpec, DenseField, Metric, \
    MultiVectorField, SparseField
from vectorbridge.errors import InvalidInputError, SpecMismatchError
from vectorbridge.extras import instance_of
from vectorbridge.retrievers.documents import TEXT_KEY, embed_documents
from vectorbridge.retrievers.twins import Flow, blocking


@dataclass(frozen=True)
class FieldNames:
    """The collection's field names, one per encoder role."""

    dense: str = "dense"
    sparse: str = "sparse"
    multivector: str = "tokens"
    codes: str = "codes"
    fde: str = "fde"
    reduced: str = "reduced"


@dataclass(frozen=True)
class Layout:
    """The encoders of a retriever and the fields they fill (``HybridRetriever`` says what
    each option means and holds the defaults)."""

    collection: str
    names: FieldNames
    dense: Any = None
    sparse: Any = None
    multivector: Any = None
    quantizer: Any = None
    oversample: float = 4.0
    fde: Any = None
    fde_quantization: str | None = None
    pooling: Any = None
    token_codec: Any = None
    text_key: str | None = None
    #: Queries need client-made BM25 term weights (RM3 feedback rewrites them), so the
    #: sparse field is never the engine's BM25 over raw text.
    term_weights: bool = False
    #: A :class:`~vectorbridge.encoders.LinearReducer`: the reduced vectors are the first
    #: stage; ``full_vectors`` keeps the originals (unindexed) to rescore its candidates.
    reducer: Any = None
    full_vectors: bool = True
    #: Float FDEs rescored per result under ``fde_quantization``.
    fde_oversample: float = 4.0
    #: Similarity of the dense field of a new collection.
    dense_metric: Metric = Metric.COSINE

    @classmethod
    def of(cls, collection: str, names: FieldNames, dense: Any, sparse: Any,
           stages: Any = (), **options: Any) -> "Layout":
        """The layout of these encoders and what the stages store (:meth:`Stage.storage`)."""
        for s in stages:
            options.update(s.storage())
        return cls(collection, names, dense=dense, sparse=sparse, **options)

    @property
    def client_pq(self) -> bool:
        """Candidates come from client-side ADC over product-quantized codes."""
        return hasattr(self.quantizer, "centroids")

    @property
    def engine_quantized(self) -> bool:
        """The engine compresses the dense field itself (a quantization name)."""
        return isinstance(self.quantizer, str)

    def write_key(self) -> str:
        """The payload key texts are written under."""
        return self.text_key or TEXT_KEY

    def read_key(self, spec: CollectionSpec) -> str:
        """The payload key texts are read from: the option, else the collection's."""
        return self.text_key or spec.text_key or TEXT_KEY

    # -- writing --------------------------------------------------------------------------
    def unfitted(self, caps: Capabilities) -> bool:
        """Whether :meth:`encode` will fit something on the texts it gets (a quantizer, BM25
        statistics, a token codec): a streamed ingest then makes its first chunk a sample."""
        engine_stats = caps.engine_idf or (caps.engine_bm25 and caps.bm25_global_stats
                                           and not self.term_weights)  # as sparse_field picks
        bm25 = instance_of(self.sparse, "vectorbridge.encoders.bm25", "BM25Encoder") and not self.sparse.n_docs and not (
            self.sparse.idf == "engine" and engine_stats)
        return bm25 or (self.quantizer is not None and not self.engine_quantized
                        and not _is_fitted(self.quantizer)) or \
            (self.reducer is not None and self.reducer.components is None) or \
            (self.token_codec is not None and self.token_codec.centroids is None)

    def observe(self, texts: list[str]) -> None:
        """Texts written before (a journal skips them): what follows the collection's writes
        counts them all the same (client-side BM25 statistics)."""
        if getattr(self.sparse, "follows_writes", False):
            self.sparse.partial_fit(texts)

    def encode(self, texts: list[str],
               caps: Capabilities) -> Flow[tuple[CollectionSpec, dict[str, Any]]]:
        """The collection spec and the vectors of ``texts``, fitting what is not fitted yet
        (quantizer, BM25 statistics, token codec) on these texts; ``caps`` (the engine's
        capabilities) say where BM25's IDF comes from."""
        n = self.names
        dense_spec, sparse_spec, mv_spec, bin_spec, vectors = {}, {}, {}, {}, {}
        if self.dense is not None:
            vectors[n.dense] = X = yield from embed_documents(self.dense, texts)
            dense_spec[n.dense] = DenseField(X.shape[1], self.dense_metric)
            if self.engine_quantized and self.reducer is None:  # the engine compresses, rescores
                dense_spec[n.dense] = DenseField(X.shape[1], self.dense_metric,
                                                 quantization=self.quantizer,
                                                 oversampling=float(self.oversample))
        if self.sparse is not None or self.multivector is not None or \
                (self.quantizer is not None and not self.engine_quantized) or \
                self.reducer is not None:  # CPU work: off the event loop under async ingest
            yield blocking(self._encode_rest, texts, caps, dense_spec, sparse_spec, mv_spec,
                           bin_spec, vectors)
        spec = CollectionSpec(name=self.collection, dense=dense_spec, sparse=sparse_spec,
                              multivector=mv_spec, binary=bin_spec, text_key=self.write_key())
        return spec, vectors

    def _encode_rest(self, texts: list[str], caps: Capabilities, dense_spec: dict[str, Any],
                     sparse_spec: dict[str, Any], mv_spec: dict[str, Any],
                     bin_spec: dict[str, Any], vectors: dict[str, Any]) -> None:
        """Everything but the dense model's call: compressed dense codes (fitting what is not
        fitted), the sparse and token fields."""
        n = self.names
        if self.dense is not None:
            X = vectors[n.dense]
            if self.reducer is not None:
                self._reduce(X, dense_spec, vectors)
            elif self.quantizer is not None and not self.engine_quantized:
                if not _is_fitted(self.quantizer):
                    self.quantizer.fit(X)
                vectors[n.codes] = codes = self.quantizer.encode(X)
                bin_spec[n.codes] = BinaryField(codes.shape[1] * 8,
                                                encoding=self.quantizer.fingerprint())
        if self.sparse is not None:
            sparse_spec[n.sparse] = field = sparse_field(self.sparse, texts, caps, self.term_weights)
            vectors[n.sparse] = texts if field.from_text else self.sparse.encode_documents(texts)
        if self.multivector is not None:
            self._encode_tokens(texts, dense_spec, mv_spec, vectors)
        spec = CollectionSpec(name=self.collection, dense=dense_spec, sparse=sparse_spec,
                              multivector=mv_spec, binary=bin_spec, text_key=self.write_key())
        return spec, vectors

    def _reduce(self, X: Any, dense_spec: dict[str, Any], vectors: dict[str, Any]) -> None:
        """The reduced field (engine-quantized if asked), fitting the reducer on ``X`` if it is
        not fitted; the full vectors stay beside it unindexed, or go (``full_vectors=False``)."""
        n = self.names
        X = unit_rows(X)  # cosine on the full vectors = dot product of unit vectors
        if self.reducer.components is None:
            self.reducer.fit(X)
        vectors[n.reduced] = R = self.reducer.transform(X)
        dense_spec[n.reduced] = DenseField(
            R.shape[1], Metric.DOT, encoding=self.reducer.fingerprint(),
            quantization=self.quantizer if self.engine_quantized else None,
            oversampling=float(self.oversample))
        if self.full_vectors:
            dense_spec[n.dense] = DenseField(X.shape[1], index=False)
        else:
            del dense_spec[n.dense], vectors[n.dense]

    def _encode_tokens(self, texts: list[str], dense_spec: dict[str, Any],
                       mv_spec: dict[str, Any], vectors: dict[str, Any]) -> None:
        n, codec = self.names, self.token_codec
        toks = self.multivector.encode_documents(texts)
        if self.pooling is not None:
            toks = self.pooling.pool(toks)
        if self.fde is not None:  # from the float tokens, before any compression
            vectors[n.fde] = F = self.fde.encode_documents(toks)
            dense_spec[n.fde] = DenseField(F.shape[1], Metric.DOT, encoding=self.fde.to_json(),
                                           quantization=self.fde_quantization,
                                           oversampling=float(self.fde_oversample))
        if codec is not None:
            if codec.centroids is None:
                codec.fit(toks)
            vectors[n.multivector] = [codec.to_bytes(t) for t in toks]
            mv_spec[n.multivector] = MultiVectorField(codec.bytes_per_token, dtype="uint8",
                                                      encoding=codec.fingerprint())
        else:  # with an FDE first stage the tokens are only read for MaxSim: no graph
            vectors[n.multivector] = toks
            mv_spec[n.multivector] = MultiVectorField(toks[0].shape[1], index=self.fde is None)

    @staticmethod
    def check_holds(existing: CollectionSpec, wanted: CollectionSpec) -> None:
        """Refuse an existing collection that lacks a field of ``wanted`` (or holds another
        kind of field under its name)."""
        for name, f in wanted.fields.items():
            if type(existing.fields.get(name)) is not type(f):
                raise InvalidInputError(
                    f"collection {existing.name!r} has no {type(f).__name__} {name!r} (its "
                    f"fields: {sorted(existing.fields)}); pass vector_field=... to the store "
                    "(or fields=FieldNames(...) to the retriever).")

    # -- reading --------------------------------------------------------------------------
    def identity(self, spec: CollectionSpec) -> tuple[Any, ...]:
        """What :meth:`check` depends on: a spec and the encoder objects, by identity
        (fingerprints hash codebooks, too slow to recompute per query)."""
        return (spec, id(self.quantizer), id(self.fde), id(self.token_codec), id(self.reducer))

    def check(self, spec: CollectionSpec) -> None:
        """Refuse a quantizer or FDE configuration other than the one the collection holds."""
        n = self.names
        if self.engine_quantized:
            searched = n.reduced if self.reducer is not None else n.dense
            stored = getattr(spec.field(searched), "quantization", None)
            if stored != self.quantizer:
                raise SpecMismatchError(
                    f"collection {spec.name!r} field {searched!r} has engine quantization "
                    f"{stored!r}, not {self.quantizer!r}; rebuild it (recreate=True) to change it."
                )
        for name, enc, what in ((n.codes, self.quantizer, "quantizer"), (n.fde, self.fde, "fde"),
                                (n.reduced, self.reducer, "reducer"),
                                (n.multivector, self.token_codec, "token_codec")):
            if enc is None or isinstance(enc, str):
                continue
            if what == "token_codec" and not getattr(spec.field(name), "codes", False):
                raise SpecMismatchError(f"collection {spec.name!r} field {name!r} holds float "
                                        "tokens, not codes: query it without token_codec=.")
            mine = enc.to_json() if what == "fde" else enc.fingerprint()
            stored = getattr(spec.field(name), "encoding", None)
            if stored != mine:
                raise SpecMismatchError(
                    f"collection {spec.name!r} field {name!r} was encoded by {stored}, not by this "
                    f"{what} ({mine}); codes from different configurations are not comparable. "
                    "Load the quantizer / FDE config the collection was built with."
                )


def _is_fitted(quantizer: Any) -> bool:
    return getattr(quantizer, "thresholds", None) is not None or \
        getattr(quantizer, "centroids", None) is not None


def sparse_field(sparse: Any, texts: list[str], caps: Capabilities,
                 term_weights: bool = False) -> SparseField:
    """The sparse field a BM25 encoder fills on this engine, fitting the encoder if needed.

    ``BM25Encoder(idf="engine")`` (the default) asks for IDF that follows the collection:
    client-made term counts with the engine's IDF where it has ``engine_idf`` (Qdrant), else
    the engine's BM25 over raw text where it has ``engine_bm25`` with collection-wide
    statistics (Milvus >= 2.5 servers, not Lite; the encoder's own tokenizer is then not
    used; not with ``term_weights``, which RM3 feedback needs), else the encoder is switched to ``idf="client"``
    and fitted on ``texts``, so its query weights carry IDF; later chunks written through a
    retriever are added to those statistics (``partial_fit``; deletes are not subtracted), so
    a collection grown by ``add_texts`` ranks as one built at once (save the encoder with
    ``BM25Encoder.save`` after writing to query the collection from elsewhere). Statistics
    fitted by hand (``BM25Encoder(idf="client").fit(corpus)``) are kept as they are."""
    if not instance_of(sparse, "vectorbridge.encoders.bm25", "BM25Encoder"):
        return SparseField()  # learned sparse models (SPLADE) carry their own term weights
    if sparse.idf == "engine":
        if caps.engine_idf:
            return SparseField(idf=True)
        if caps.engine_bm25 and caps.bm25_global_stats and not term_weights:
            return SparseField(bm25="engine")
        sparse.idf = "client"
    if not sparse.n_docs:
        sparse.fit(texts)
        sparse.follows_writes = True  # the collection's statistics, kept current below
    elif sparse.follows_writes:  # a later chunk: IDF follows the collection as it grows
        sparse.partial_fit(texts)
    return SparseField()


__all__ = ["FieldNames", "Layout"]
