"""The one entry point: ``compute(task, predictions, references, protocol=...)`` -> :class:`MetricResult`.

Protocols (DESIGN.md §2), each a named convention of the literature:

- ``molt5`` (the default): the MolT5 evaluation scripts. Captions tokenised by SciBERT uncased (max 512); molecules
  as ``mol_translation_metrics.py`` / ``fingerprint_metrics.py``, two empty bit fingerprints scoring Tanimoto 1.0 as
  in every RDKit before 2025.09 (the environment of every published ChEBI-20 number).
- ``icma``: ICMA's and MolReGPT's ``naive_test.py``: as ``molt5``, but captions tokenised by the T5 tokenizer of
  ``laituan245/molt5-base-smiles2caption`` with no truncation. Every ICMA / MolReGPT number in the literature uses it.
- ``strict``: empty or invalid outputs are invalid and score 0 on every similarity; exact match needs equal,
  non-empty standard InChIs; two empty fingerprints score 0.0 (current RDKit).

``protocol`` takes one name, several joined by ``+`` (or ``,``), a sequence of names, ``both`` (= ``molt5+strict``)
or ``all``.
The first protocol's scores carry the plain metric names, every other one's the prefix ``<protocol>_``.
"""

from __future__ import annotations

import logging
import math
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from icma_bench import __version__
from icma_bench.chem import DEFAULT_LIMITS, MoleculeLimits
from icma_bench.metrics.resources import (
    compute_resource_sha256,
    find_wordnet,
    load_caption_tokenizer,
    load_icma_tokenizer,
    package_version,
)
from icma_bench.metrics.workers import resolve_n_jobs

logger = logging.getLogger(__name__)

TASKS = ("mol2caption", "caption2mol")
PROTOCOLS = ("molt5", "icma", "strict")
PROTOCOL_ALIASES = {"both": ("molt5", "strict"), "all": PROTOCOLS}
CAPTION_METRICS = ("bleu2", "bleu4", "rouge1", "rouge2", "rougeL", "meteor")
MOLECULE_METRICS = ("bleu", "exact_match", "levenshtein", "validity", "maccs_fts", "rdk_fts", "morgan_fts")
# Direction of each metric (for tables and lm-eval's higher_is_better).
LOWER_IS_BETTER = frozenset({"levenshtein", "fcd"})
#: Tanimoto of two empty bit fingerprints per protocol: RDKit < 2025.09 (the literature's) vs current RDKit.
EMPTY_FINGERPRINT_SIMILARITY = {"molt5": 1.0, "icma": 1.0, "strict": 0.0}
#: Caption truncation per protocol: MolT5's --text_trunc_length 512; naive_test.py does not truncate.
CAPTION_MAX_LENGTH = {"molt5": 512, "icma": None, "strict": 512}


@dataclass
class MetricResult:
    """Corpus-level scores, the counts behind them, and the signature that makes them reproducible.

    ``items`` (only with ``compute(..., per_item=True)``): per protocol, per metric, one value per document
    (sentence-level BLEU, METEOR, ROUGE for captions; validity, exact match, Levenshtein and Tanimoto for molecules),
    and ``ngrams`` the per-document BLEU statistics.
    """

    task: str
    protocol: str
    scores: dict[str, float]
    counts: dict[str, int]
    signature: dict[str, str] = field(default_factory=dict)
    items: dict[str, dict[str, list]] = field(default_factory=dict, repr=False)
    #: With ``per_item``: per protocol, the per-document BLEU statistics (:func:`icma_bench.metrics.bleu.ngram_matrix`)
    #: from which a bootstrap recomputes corpus BLEU on any resample.
    ngrams: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def protocols(self) -> tuple[str, ...]:
        return tuple(self.protocol.split("+"))

    def key(self, metric: str, protocol: str) -> str:
        """The name under which ``metric`` of ``protocol`` sits in :attr:`scores`."""
        return metric if protocol == self.protocols[0] else f"{protocol}_{metric}"

    def to_dict(self) -> dict:
        """JSON-able (strict JSON): NaN (a mean over nothing, e.g. FTS with no valid output) becomes ``None``."""
        return {
            "task": self.task,
            "protocol": self.protocol,
            "scores": {k: _json_number(v) for k, v in self.scores.items()},
            "counts": dict(self.counts),
            "signature": dict(self.signature),
        }

    @property
    def signature_string(self) -> str:
        """One line in the spirit of sacrebleu: ``protocol:molt5|tok:...|rdkit:...``."""
        return "|".join(f"{k}:{v}" for k, v in self.signature.items())


def _json_number(value):
    return None if isinstance(value, float) and math.isnan(value) else value


def parse_protocols(protocol: str | Sequence[str]) -> tuple[str, ...]:
    """``"molt5"``, ``"icma+strict"``, ``"icma,strict"``, ``["molt5", "icma"]``, ``"both"``, ``"all"`` -> a tuple."""
    if isinstance(protocol, str):
        names = PROTOCOL_ALIASES.get(protocol.strip()) or tuple(
            p.strip() for p in re.split(r"[,+]", protocol) if p.strip()
        )
    else:
        names = tuple(protocol)
    unknown = [p for p in names if p not in PROTOCOLS]
    if not names or unknown:
        raise ValueError(
            f"unknown protocol {protocol!r}; choose from {list(PROTOCOLS)} (several joined by '+'), "
            "'both' (molt5+strict) or 'all'"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"protocol {protocol!r} names a protocol twice")
    return names


def metric_names(task: str, protocol: str | Sequence[str] = "molt5", *, fcd: bool = False) -> list[str]:
    """The score keys :func:`compute` returns for ``task`` and ``protocol``, in display order."""
    protocols = parse_protocols(protocol)
    _check_task(task)
    base = list(CAPTION_METRICS if task == "mol2caption" else MOLECULE_METRICS)
    if task == "caption2mol" and fcd:
        base.append("fcd")
    return base + [f"{p}_{name}" for p in protocols[1:] for name in base]


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {list(TASKS)}")


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
    protocol: str | Sequence[str] = "molt5",
    tokenizer: str | None = None,
    n_jobs: int | None = None,
    fcd: bool = False,
    show_progress: bool = False,
    empty_fingerprint_similarity: float | None = None,
    per_item: bool = False,
    molecule_time_limit: float | None = DEFAULT_LIMITS.seconds,
    molecule_memory_limit: int | None = DEFAULT_LIMITS.memory_mib,
) -> MetricResult:
    """Score a whole corpus of (prediction, reference) pairs.

    ``task``: ``mol2caption`` (caption metrics) or ``caption2mol`` (molecule metrics). ``protocol``: see the module
    docstring. ``tokenizer``: the caption tokenizer of ``molt5``/``strict`` (None -> SciBERT uncased, resolved
    offline-first); ``icma`` always uses its T5 tokenizer. ``empty_fingerprint_similarity``: override the Tanimoto
    of two empty bit fingerprints under ``molt5``/``icma`` (0.0 reproduces MolT5's scripts on RDKit >= 2025.09).
    ``n_jobs``: worker processes (None -> every core when the input is big enough). ``fcd``: add FCD (optional
    extra). ``per_item``: also return per-document scores in :attr:`MetricResult.items`. ``None`` predictions count
    as empty outputs. ``molecule_time_limit`` (seconds) / ``molecule_memory_limit`` (MiB): the per-molecule bound
    on RDKit work for molecules that fail the cheap screen (caption2mol); an output over it is counted
    ``too_complex`` and scored as unparsable; both ``None``: no bound. Recorded in the signature (``mol_limit``).
    """
    protocols = parse_protocols(protocol)
    _check_task(task)
    predictions = _clean(predictions, "predictions")
    references = _clean(references, "references")
    if len(predictions) != len(references):
        raise ValueError(
            f"{len(predictions)} predictions but {len(references)} references; they must pair up"
        )
    limits = MoleculeLimits(seconds=molecule_time_limit, memory_mib=molecule_memory_limit)
    jobs = resolve_n_jobs(n_jobs, len(predictions))
    signature = {"protocol": "+".join(protocols), "task": task}
    if task == "mol2caption":
        per_protocol, items = _caption_protocols(
            predictions, references, protocols, tokenizer, jobs, show_progress, per_item, signature
        )
    else:
        from icma_bench.metrics.molecule import compute_molecule_metrics

        empty = {
            p: (
                empty_fingerprint_similarity
                if empty_fingerprint_similarity is not None and p != "strict"
                else EMPTY_FINGERPRINT_SIMILARITY[p]
            )
            for p in protocols
        }
        per_protocol, items = compute_molecule_metrics(
            predictions,
            references,
            protocols=protocols,
            empty_similarity=empty,
            n_jobs=jobs,
            show_progress=show_progress,
            per_item=per_item,
            limits=limits,
        )
        signature.update(
            rdkit=package_version("rdkit"),
            levenshtein=package_version("levenshtein"),
            morgan="r2-counts",
            mol_limit=limits.signature,
        )
        # NOTE: the literature's convention (RDKit < 2025.09) is 1.0; current RDKit gives 0.0 (see the README).
        signature.update({_prefixed("empty_fp", p, protocols): str(float(empty[p])) for p in protocols})
        if fcd:
            from icma_bench.metrics.fcd import compute_fcd, fcd_signature

            value = compute_fcd(predictions, references)
            for scores, _ in per_protocol.values():
                scores["fcd"] = value
            signature["fcd"] = fcd_signature()
    signature.update(icma_bench=__version__, python=platform.python_version())
    first_scores, first_counts = per_protocol[protocols[0]]
    scores, counts = dict(first_scores), dict(first_counts)
    for p in protocols[1:]:
        p_scores, p_counts = per_protocol[p]
        scores.update({f"{p}_{k}": v for k, v in p_scores.items()})
        counts.update({f"{p}_{k}": v for k, v in p_counts.items() if counts.get(k) != v})
    ordered = {name: scores[name] for name in metric_names(task, protocols, fcd=fcd)}
    ngrams = {p: columns.pop("_bleu_ngrams") for p, columns in items.items() if "_bleu_ngrams" in columns}
    return MetricResult(
        task=task,
        protocol="+".join(protocols),
        scores=ordered,
        counts=counts,
        signature=signature,
        items=items,
        ngrams=ngrams,
    )


def _prefixed(name: str, protocol: str, protocols: Sequence[str]) -> str:
    return name if protocol == protocols[0] else f"{protocol}_{name}"


def _caption_protocols(
    predictions, references, protocols, tokenizer, jobs, show_progress, per_item, signature
):
    """Caption metrics for each protocol; protocols that share a tokenizer and truncation share one computation.

    NOTE: captions have no validity notion in MolT5; ``strict`` scores them exactly as ``molt5`` does (an empty
    output already scores 0 on every caption metric) and reports its empty-output count.
    """
    from icma_bench.metrics.text import compute_caption_metrics

    wordnet = find_wordnet()
    signature.update(
        wordnet=f"{wordnet.name}#{compute_resource_sha256(str(wordnet))[:12]}",
        nltk=package_version("nltk"),
        rouge_score=package_version("rouge-score"),
        tokenizers=package_version("tokenizers"),
    )
    done: dict[tuple, tuple] = {}
    per_protocol, items = {}, {}
    for p in protocols:
        tok = load_icma_tokenizer() if p == "icma" else load_caption_tokenizer(tokenizer)
        max_length = CAPTION_MAX_LENGTH[p]
        group = (tok.config_sha256, max_length)
        if group not in done:
            done[group] = compute_caption_metrics(
                predictions,
                references,
                tok,
                max_length=max_length,
                n_jobs=jobs,
                show_progress=show_progress,
                per_item=per_item,
            )
        scores, counts, doc_scores = done[group]
        per_protocol[p] = (dict(scores), dict(counts))
        if per_item:
            items[p] = dict(doc_scores)
        signature[_prefixed("tokenizer", p, protocols)] = tok.signature
        signature[_prefixed("max_length", p, protocols)] = "none" if max_length is None else str(max_length)
    return per_protocol, items
