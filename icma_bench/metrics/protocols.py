"""The one entry point: ``compute(task, predictions, references, protocol=...)`` -> :class:`MetricResult`.

Protocols: ``molt5`` (the MolT5 evaluation scripts' behaviour, the default) and ``strict`` (empty or invalid outputs
are invalid and score 0 on every similarity; exact match needs equal, non-empty standard InChIs). ``both`` computes
both from one pass; its result keys the strict scores as ``strict_<name>``.
"""

from __future__ import annotations

import logging
import math
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field

from icma_bench import __version__
from icma_bench.metrics.resources import (
    compute_resource_sha256,
    find_wordnet,
    load_caption_tokenizer,
    package_version,
)
from icma_bench.metrics.workers import resolve_n_jobs

logger = logging.getLogger(__name__)

TASKS = ("mol2caption", "caption2mol")
PROTOCOLS = ("molt5", "strict")
CAPTION_METRICS = ("bleu2", "bleu4", "rouge1", "rouge2", "rougeL", "meteor")
MOLECULE_METRICS = ("bleu", "exact_match", "levenshtein", "validity", "maccs_fts", "rdk_fts", "morgan_fts")
# Direction of each metric (for tables and lm-eval's higher_is_better).
LOWER_IS_BETTER = frozenset({"levenshtein", "fcd"})


@dataclass
class MetricResult:
    """Corpus-level scores, the counts behind them, and the signature that makes them reproducible."""

    task: str
    protocol: str
    scores: dict[str, float]
    counts: dict[str, int]
    signature: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-able: NaN (a mean over nothing, e.g. FTS with no valid output) becomes ``None``."""
        return {
            "task": self.task,
            "protocol": self.protocol,
            "scores": {
                k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.scores.items()
            },
            "counts": dict(self.counts),
            "signature": dict(self.signature),
        }

    @property
    def signature_string(self) -> str:
        """One line in the spirit of sacrebleu: ``protocol:molt5|tok:...|rdkit:...``."""
        return "|".join(f"{k}:{v}" for k, v in self.signature.items())


def metric_names(task: str, protocol: str = "molt5", *, fcd: bool = False) -> list[str]:
    """The score keys :func:`compute` returns for ``task`` and ``protocol``, in display order."""
    _check(task, protocol)
    base = list(CAPTION_METRICS if task == "mol2caption" else MOLECULE_METRICS)
    if task == "caption2mol" and fcd:
        base.append("fcd")
    if protocol == "both":
        return base + [f"strict_{name}" for name in base]
    return base


def _check(task: str, protocol: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {list(TASKS)}")
    if protocol not in (*PROTOCOLS, "both"):
        raise ValueError(f"unknown protocol {protocol!r}; choose molt5, strict or both")


def _clean(texts: Sequence, what: str) -> list[str]:
    out = []
    for i, t in enumerate(texts):
        if t is None:
            out.append("")  # a missing output is an empty output: counted, never dropped
        elif isinstance(t, str):
            out.append(t)
        else:
            raise ValueError(f"{what}[{i}] is a {type(t).__name__}, expected a string")
    return out


def compute(
    task: str,
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    protocol: str = "molt5",
    tokenizer: str | None = None,
    n_jobs: int | None = None,
    fcd: bool = False,
    show_progress: bool = False,
) -> MetricResult:
    """Score a whole corpus of (prediction, reference) pairs.

    ``task``: ``mol2caption`` (caption metrics) or ``caption2mol`` (molecule metrics). ``protocol``: ``molt5``,
    ``strict`` or ``both``. ``tokenizer``: caption tokenizer (None -> SciBERT uncased, resolved offline-first).
    ``n_jobs``: worker processes (None -> every core when the input is big enough). ``fcd``: add FCD (optional extra).
    ``None`` predictions count as empty outputs.
    """
    _check(task, protocol)
    predictions = _clean(predictions, "predictions")
    references = _clean(references, "references")
    if len(predictions) != len(references):
        raise ValueError(
            f"{len(predictions)} predictions but {len(references)} references; they must pair up"
        )
    jobs = resolve_n_jobs(n_jobs, len(predictions))
    protocols = PROTOCOLS if protocol == "both" else (protocol,)
    signature = {"protocol": protocol, "task": task}
    if task == "mol2caption":
        from icma_bench.metrics.text import MAX_LENGTH, compute_caption_metrics

        tok = load_caption_tokenizer(tokenizer)
        wordnet = find_wordnet()
        scores, counts = compute_caption_metrics(
            predictions, references, tok, n_jobs=jobs, show_progress=show_progress
        )
        # NOTE: captions have no validity notion in MolT5; strict scores them exactly as molt5 does (an empty
        # output already scores 0 on every caption metric) and reports its empty-output count.
        per_protocol = {p: (scores, counts) for p in protocols}
        signature.update(
            tokenizer=tok.signature,
            max_length=str(MAX_LENGTH),
            wordnet=f"{wordnet.name}#{compute_resource_sha256(str(wordnet))[:12]}",
            nltk=package_version("nltk"),
            rouge_score=package_version("rouge-score"),
            transformers=package_version("transformers"),
            tokenizers=package_version("tokenizers"),
        )
    else:
        from icma_bench.metrics.molecule import compute_molecule_metrics

        per_protocol = compute_molecule_metrics(
            predictions, references, protocols=protocols, n_jobs=jobs, show_progress=show_progress
        )
        signature.update(
            rdkit=package_version("rdkit"),
            nltk=package_version("nltk"),
            levenshtein=package_version("levenshtein"),
            morgan="r2-counts",
        )
        if fcd:
            from icma_bench.metrics.fcd import compute_fcd, fcd_signature

            for p, (scores, _) in per_protocol.items():
                scores["fcd"] = compute_fcd(predictions, references, protocol=p)
            signature["fcd"] = fcd_signature()
    signature.update(icma_bench=__version__, python=platform.python_version())
    first = per_protocol[protocols[0]]
    scores = dict(first[0])
    counts = dict(first[1])
    if protocol == "both":
        strict_scores, strict_counts = per_protocol["strict"]
        scores.update({f"strict_{k}": v for k, v in strict_scores.items()})
        counts.update({f"strict_{k}": v for k, v in strict_counts.items() if counts.get(k) != v})
    ordered = {name: scores[name] for name in metric_names(task, protocol, fcd=fcd)}
    return MetricResult(task=task, protocol=protocol, scores=ordered, counts=counts, signature=signature)
