"""Score one run under every protocol, with bootstrap replicates of every metric, cached on disk.

The cache entry of a run is named by a hash of everything that changes its numbers (task, predictions,
references, protocols, bootstrap settings, caption tokenizers, package versions) and content-verified on read
(:mod:`icma_bench.store`), so a warm rebuild re-scores nothing and a damaged entry is rebuilt, never trusted.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from icma_bench import __version__
from icma_bench.data import cache_dir
from icma_bench.files import sha256_texts
from icma_bench.leaderboard.bootstrap import (
    BLEU_WEIGHTS,
    BootstrapConfig,
    compute_interval,
    resample_bleu,
    resample_metric,
    resample_weights,
)
from icma_bench.leaderboard.schema import METRICS
from icma_bench.metrics.protocols import PROTOCOLS
from icma_bench.metrics.resources import package_version
from icma_bench.store import compute_key, load_arrays, save_arrays

logger = logging.getLogger(__name__)

#: signature fields that differ per protocol (the rest are shared by every protocol of one computation).
_PER_PROTOCOL = ("tokenizer", "max_length", "empty_fp")
_ALGORITHM = "board-measure-1"


@dataclass
class ProtocolMeasure:
    scores: dict[str, float]
    counts: dict[str, int]
    signature: str
    intervals: dict[str, tuple[float, float] | None]
    replicates: dict[str, np.ndarray] = field(repr=False)


@dataclass
class Measurement:
    task: str
    n: int
    doc_key: str  # the documents scored, in order (a hash of their CIDs): rows with equal keys are paired
    protocols: dict[str, ProtocolMeasure]


def protocol_signature(result, protocol: str) -> str:
    """One protocol's signature line out of a multi-protocol :class:`MetricResult`."""
    protocols = result.protocols
    sig = result.signature
    own = {}
    for key, value in sig.items():
        prefix, _, base = key.partition("_")
        if prefix in protocols[1:] and base:
            continue  # another protocol's field
        if key in _PER_PROTOCOL or key == "protocol":
            continue
        own[key] = value
    fields = {"protocol": protocol, "task": own.pop("task", result.task)}
    for base in _PER_PROTOCOL:
        key = result.key(base, protocol)
        if key in sig:
            fields[base] = sig[key]
    fields.update(own)
    return "|".join(f"{k}:{v}" for k, v in fields.items())


def _protocol_counts(result, protocol: str) -> dict[str, int]:
    base = {
        k: v for k, v in result.counts.items() if not any(k.startswith(f"{p}_") for p in result.protocols[1:])
    }
    return {k: result.counts.get(result.key(k, protocol), v) for k, v in base.items()}


def _replicates(task: str, items: dict, ngrams: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    for name, *_ in METRICS[task]:
        if name in BLEU_WEIGHTS[task]:
            out[name] = resample_bleu(ngrams, weights, BLEU_WEIGHTS[task][name])
        elif name in items:
            values = np.array([math.nan if v is None else float(v) for v in items[name]], dtype=np.float64)
            out[name] = resample_metric(values, weights)
    return out


def _cache_key(task, predictions, references, cids, config: BootstrapConfig) -> dict:
    from icma_bench.metrics.resources import load_caption_tokenizer, load_icma_tokenizer

    tokenizers = (
        [load_caption_tokenizer(None).signature, load_icma_tokenizer().signature]
        if task == "mol2caption"
        else []
    )
    return {
        "algorithm": _ALGORITHM,
        "task": task,
        "predictions": sha256_texts(predictions),
        "references": sha256_texts(references),
        "cids": sha256_texts(cids),
        "bootstrap": config.to_dict(),
        "tokenizers": tokenizers,
        "versions": {
            name: package_version(name)
            for name in ("rdkit", "nltk", "rouge-score", "tokenizers", "levenshtein")
        }
        | {"icma_bench": __version__},
    }


def measure_run(
    task: str,
    predictions: list[str],
    references: list[str],
    cids: list[str],
    config: BootstrapConfig,
    *,
    use_cache: bool = True,
) -> Measurement:
    """Scores, counts, signature, 95 % intervals and bootstrap replicates under every protocol."""
    params = _cache_key(task, predictions, references, cids, config)
    name = f"run-{compute_key(params)[:32]}"
    directory = cache_dir() / "leaderboard"
    doc_key = sha256_texts(cids)
    if use_cache:
        hit = load_arrays(directory, name, {"params": params})
        if hit is not None:
            arrays, manifest = hit
            return Measurement(
                task,
                len(predictions),
                doc_key,
                {
                    p: ProtocolMeasure(
                        scores=info["scores"],
                        counts=info["counts"],
                        signature=info["signature"],
                        intervals={k: tuple(v) if v else None for k, v in info["intervals"].items()},
                        replicates={
                            k.split("__", 1)[1]: v for k, v in arrays.items() if k.startswith(f"{p}__")
                        },
                    )
                    for p, info in manifest["protocols"].items()
                },
            )
    from icma_bench.metrics import compute

    result = compute(task, predictions, references, protocol=PROTOCOLS, per_item=True)
    weights = resample_weights(len(predictions), config)
    protocols = {}
    for p in result.protocols:
        replicates = _replicates(task, result.items[p], result.ngrams[p], weights)
        scores = {
            k: result.scores[result.key(k, p)] for k, *_ in METRICS[task] if result.key(k, p) in result.scores
        }
        protocols[p] = ProtocolMeasure(
            scores=scores,
            counts=_protocol_counts(result, p),
            signature=protocol_signature(result, p),
            intervals={k: compute_interval(v, config.confidence) for k, v in replicates.items()},
            replicates=replicates,
        )
    if use_cache:
        meta = {
            "params": params,
            "protocols": {
                p: {
                    "scores": {
                        k: (None if isinstance(v, float) and math.isnan(v) else v)
                        for k, v in m.scores.items()
                    },
                    "counts": m.counts,
                    "signature": m.signature,
                    "intervals": {k: list(v) if v else None for k, v in m.intervals.items()},
                }
                for p, m in protocols.items()
            },
        }
        arrays = {f"{p}__{k}": v for p, m in protocols.items() for k, v in m.replicates.items()}
        try:
            save_arrays(directory, name, arrays, meta)
        except OSError as exc:
            logger.warning(
                "cannot write the board cache under %s (%s); continuing without it", directory, exc
            )
    return Measurement(task, len(predictions), doc_key, protocols)
