"""LangChain components over connectors and encoders (VectorStore, hybrid retriever,
rerankers). Built on :mod:`vectorbridge.connectors` and :mod:`vectorbridge.encoders`."""

__all__: list[str] = []
