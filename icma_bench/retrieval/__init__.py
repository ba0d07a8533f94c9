"""Context retrieval for ICMA prompts: BM25, fingerprints, dense embeddings, random; cached; re-ranking.

``build_neighbours(queries, pool, method, k)`` is the one entry; :mod:`icma_bench.retrieval.rerank` picks the shots.
"""

from icma_bench.retrieval.neighbours import METHODS, Neighbours, build_neighbours

__all__ = ["METHODS", "Neighbours", "build_neighbours"]
