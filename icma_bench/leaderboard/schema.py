"""The published board as data (a board is rows with provenance first, rendering second).

``board.json`` (schema ``icma-bench-board/1``), one per dataset, is what every renderer reads::

    {
      "schema": "icma-bench-board/1",
      "dataset": "chebi20", "split": "test", "n_documents": 3300,
      "built_with": {"icma_bench": "0.1.0", "rdkit": "...", ...},
      "bootstrap": {"resamples": 1000, "seed": 0, "confidence": 0.95, "alpha": 0.05},
      "metrics": {"mol2caption": [METRIC, ...], "caption2mol": [METRIC, ...]},
      "conventions": {"molt5": "...", "icma": "...", "strict": "..."},   # one-line descriptions
      "rows": [ROW, ...]
    }

    METRIC = {"name": "bleu4", "label": "BLEU-4", "higher_is_better": true, "headline": true}

    ROW = {
      "id": "molt5-large/mol2caption/molt5",        # unique in the board
      "kind": "measured" | "reported",
      "task": "mol2caption" | "caption2mol",
      "convention": "molt5" | "icma" | "strict",    # metric protocol (reported rows: the paper's convention)
      "model": "MolT5-large", "family": "MolT5",
      "params": 780000000 | null,                  # null: unknown (API models; plotted apart, never on the axis)
      "params_label": "780M" | "API, size unknown",
      "method": "fine-tuned" | "in-context" | "zero-shot" | "baseline",
      "shots": 10 | null, "retriever": "rdkit_fp" | null,
      "training_data": "chebi20-train" | "pubchem324k-train" | "none" | ...,  # what the weights were tuned on
      "training_flag": "fine-tuned on this train" | "in-context only" | "zero-shot" | "contaminated: ...",
      "decoding": "greedy" | "sampling (T 0.7, top-p 0.85, top-k 40)" | "unknown",
      "source": {"name": "...", "url": "...", "file": "..."},   # where the outputs or numbers come from
      "caption_tokenizer": "SciBERT uncased" | "T5 (molt5-base-smiles2caption)" | null,
      "signature": "protocol:molt5|...",             # measured rows; reported rows: ""
      "scores": {"bleu4": {"value": 0.508, "low": 0.497, "high": 0.519} | null, ...},   # low/high: 95 % CI
      "counts": {"n": 3300, "invalid": 12, ...},
      "best": ["bleu4", ...],                       # metrics where this row is the best of its (task, convention)
      "tied_with_best": ["rouge1", ...],            # not significantly different from the best (paired test)
      "reported_as": "molt5-large/mol2caption/reported" | null,   # measured row -> its reported counterpart
      "notes": "..."
    }

Reported rows have ``low``/``high`` null (papers report no interval) and never take part in best marking.
"""

from __future__ import annotations

import json
import math
from typing import Any

SCHEMA = "icma-bench-board/1"
KINDS = ("measured", "reported")
METHODS = ("fine-tuned", "in-context", "zero-shot", "baseline")

#: name -> (label, higher_is_better, headline) per task, in display order.
METRICS: dict[str, tuple[tuple[str, str, bool, bool], ...]] = {
    "mol2caption": (
        ("bleu2", "BLEU-2", True, True),
        ("bleu4", "BLEU-4", True, True),
        ("rouge1", "ROUGE-1", True, False),
        ("rouge2", "ROUGE-2", True, False),
        ("rougeL", "ROUGE-L", True, True),
        ("meteor", "METEOR", True, True),
    ),
    "caption2mol": (
        ("bleu", "BLEU", True, True),
        ("exact_match", "Exact", True, True),
        ("levenshtein", "Levenshtein", False, False),
        ("validity", "Validity", True, True),
        ("maccs_fts", "MACCS FTS", True, False),
        ("rdk_fts", "RDK FTS", True, False),
        ("morgan_fts", "Morgan FTS", True, True),
        ("fcd", "FCD", False, False),
    ),
}

CONVENTIONS = {
    "molt5": "MolT5's scripts: captions tokenised by SciBERT uncased (max 512); FTS over valid outputs; "
    "two empty fingerprints score 1.0 (RDKit < 2025.09)",
    "icma": "ICMA / MolReGPT naive_test.py: as molt5, captions tokenised by the T5 tokenizer of "
    "laituan245/molt5-base-smiles2caption, no truncation",
    "strict": "invalid or empty outputs score 0 on every similarity over all documents; exact match by "
    "canonical InChI; two empty fingerprints score 0.0",
}


#: the conventions a measured row is shown under, per task. NOTE: captions have no validity notion, so ``strict``
#: scores them exactly as ``molt5``; molecules are scored by ``icma`` exactly as by ``molt5`` (ICMA's and MolReGPT's
#: scripts are MolT5's): those copies would only repeat rows.
TASK_CONVENTIONS = {"mol2caption": ("molt5", "icma"), "caption2mol": ("molt5", "strict")}


def metric_specs(task: str) -> list[dict]:
    """The ``metrics`` entries of ``task`` for board.json."""
    return [
        {"name": n, "label": label, "higher_is_better": hib, "headline": head}
        for n, label, hib, head in METRICS[task]
    ]


def higher_is_better(task: str, metric: str) -> bool:
    for name, _, hib, _ in METRICS[task]:
        if name == metric:
            return hib
    raise KeyError(f"unknown {task} metric {metric!r}")


def format_params(params: int | None) -> str:
    """``780000000`` -> ``780M``, ``7241732096`` -> ``7.2B``; None -> ``API, size unknown``."""
    if params is None:
        return "API, size unknown"
    if params >= 1e9:
        return f"{params / 1e9:.1f}B"
    if params >= 1e6:
        return f"{params / 1e6:.0f}M" if params >= 1e7 else f"{params / 1e6:.1f}M"
    return f"{params / 1e3:.0f}K"


def dump_json_strict(obj: Any) -> str:
    """JSON with NaN as null (strict JSON, readable everywhere)."""

    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(obj), indent=1, ensure_ascii=False, allow_nan=False) + "\n"
