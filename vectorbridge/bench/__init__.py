"""``vectorbridge bench``: quality, speed and size of every pipeline on any BEIR folder, and
side by side with the LangChain integrations it replaces, in one run.

Modules, one idea each: :mod:`.data` (corpus, on-disk embedding cache, cached-vector
``Embeddings``), :mod:`.timing` (latency percentiles, paired ratios), :mod:`.pipelines`
(engines x pipelines: quality, latency, bytes/vector, ingest), :mod:`.anchors`
(langchain-qdrant and langchain-milvus on the same vectors), :mod:`.encoders` (encoder
throughput), :mod:`.concurrency` (async in flight against a server), :mod:`.report`
(stdout table, JSON, Markdown, plots) and :mod:`.cli` (the command).
"""
