"""GIN graph embeddings of SMILES, in batches, cached on disk (content-keyed by the SMILES and the weights' sha256).

Deterministic: a molecule's embedding depends only on its SMILES string and the weights, never on the batch it is
computed in nor on the number of featurising processes (eval mode, BatchNorm running statistics, per-atom sums in a
fixed edge order, every batch padded so MKL runs the same GEMM kernel: :data:`icma_bench.graph.model.MIN_ROWS`).
The forward pass is :func:`icma_bench.graph.model.embed_batch` (sparse neighbour sums, BatchNorm folded into the
Linear layers); ``reference=True`` runs the per-edge message passing of ``GIN.forward`` instead (the training path,
and the embeddings of ``EMBED_VERSION`` 1), equal up to float rounding. Unparsable SMILES get a zero row (cosine
similarity 0 to everything) and are listed in ``Embeddings.invalid``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from icma_bench import data, store
from icma_bench.graph.featurize import featurize_many

logger = logging.getLogger(__name__)

EMBED_VERSION = 2  # bump when featurisation or the forward pass changes any number (2: embed_batch)
DEFAULT_BATCH_SIZE = 256


@dataclass(frozen=True)
class Embeddings:
    """``embeddings`` float32 [n, 300] in input order; ``invalid``: rows whose SMILES did not parse (zero rows)."""

    embeddings: np.ndarray
    invalid: tuple[int, ...]
    weights_sha256: str
    key: str = ""
    from_cache: bool = False


def _versions() -> dict[str, str]:
    out = {}
    for name in ("torch", "torch_geometric", "rdkit"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def compute_embeddings(
    smiles: Sequence[str],
    model,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    show_progress: bool = False,
    workers: int | None = None,
    reference: bool = False,
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Embed ``smiles`` with a loaded GIN (eval mode): ``(float32 [n, dim], unparsable row indices)``.

    ``workers``: featurising processes (``None``: one per core for large inputs, see
    :func:`~icma_bench.graph.featurize.default_workers`). ``reference``: the per-edge message-passing forward.
    """
    import torch

    from icma_bench.graph.model import collate, embed_batch, fuse_gin, pool_mean

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if model.training:
        raise ValueError("the GIN must be in eval mode (BatchNorm running statistics); call model.eval()")
    dim = model.x_embedding1.embedding_dim
    out = np.zeros((len(smiles), dim), dtype=np.float32)
    all_graphs = featurize_many(smiles, workers)
    invalid = [i for i, g in enumerate(all_graphs) if g is None]
    fused = None if reference else fuse_gin(model)
    with (
        torch.inference_mode(),
        tqdm(total=len(smiles), desc="graph embeddings", unit="mol", disable=not show_progress) as bar,
    ):
        for start in range(0, len(smiles), batch_size):
            stop = min(start + batch_size, len(smiles))
            rows = [i for i in range(start, stop) if all_graphs[i] is not None]
            if rows:
                x, edge_index, edge_attr, batch = collate([all_graphs[i] for i in rows])
                if fused is None:
                    pooled = pool_mean(model(x, edge_index, edge_attr), batch, len(rows) + 1)[:-1]
                else:
                    pooled = embed_batch(fused, x, edge_index, edge_attr, batch, len(rows) + 1)[:-1]
                out[rows] = pooled.numpy()
            bar.update(stop - start)
    if invalid:
        logger.warning("%d of %d SMILES could not be parsed: zero embeddings", len(invalid), len(smiles))
    return out, tuple(invalid)


def embed_smiles(
    smiles: Sequence[str],
    *,
    weights: str | os.PathLike | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    cache_dir: str | os.PathLike | None | bool = None,
    show_progress: bool = False,
    workers: int | None = None,
) -> Embeddings:
    """GIN embeddings of ``smiles`` with the shipped weights or ``weights`` (ours, or a pretrain-gnns/Mole-BERT
    checkpoint). ``cache_dir``: ``None`` -> the user cache's ``embeddings`` folder, ``False`` -> no cache.
    ``workers``: featurising processes (see :func:`compute_embeddings`; they never change a number)."""
    from icma_bench.graph.weights import hash_file, resolve_weights

    if isinstance(smiles, (str, bytes)) or any(not isinstance(s, str) for s in smiles):
        raise ValueError("embed_smiles needs a sequence of SMILES strings")
    path = resolve_weights(weights)
    sha = hash_file(path)
    params = {
        "smiles": store.hash_inputs(smiles),
        "weights": sha,
        "algorithm": EMBED_VERSION,
        "versions": _versions(),
    }
    key = store.compute_key(params)
    name = f"gin-{key[:24]}"
    directory = (
        None
        if cache_dir is False
        else Path(cache_dir)
        if cache_dir not in (None, True)
        else data.cache_dir() / "embeddings"
    )
    if directory is not None:
        hit = store.load_arrays(directory, name, {"key": key})
        if hit is not None:
            arrays, manifest = hit
            emb = arrays["embeddings"]
            if emb.ndim == 2 and emb.shape[0] == len(smiles) and emb.dtype == np.float32:
                logger.info("graph embeddings served from cache %s", directory / name)
                return Embeddings(emb, tuple(manifest.get("invalid", ())), sha, key, from_cache=True)
            logger.warning("cache entry %s is inconsistent with the request; rebuilding", directory / name)
    from icma_bench.graph.weights import load_gin

    model, _ = load_gin(path)
    emb, invalid = compute_embeddings(
        smiles, model, batch_size=batch_size, show_progress=show_progress, workers=workers
    )
    if directory is not None:
        meta = {"key": key, "params": params, "weights_file": str(path), "invalid": list(invalid)}
        store.save_arrays(directory, name, {"embeddings": emb}, meta)
    return Embeddings(emb, invalid, sha, key)
