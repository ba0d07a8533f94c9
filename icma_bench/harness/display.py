"""lm-eval's printed result tables, made readable for icma tasks (the results JSON is never touched).

- The text entries (``signature``, ``counts``, ``budget``) stay in the results JSON but leave the table: a table
  cell is no place for a 300-character signature. A note under the table says where they are.
- Undefined metrics (null in the results JSON: a mean over nothing) leave the table too.
- In an icma group's rows each metric is labelled with its direction (``mol2caption/bleu2``,
  ``caption2mol/validity``): a group mixes both directions, and ``bleu`` alone does not say which.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

from icma_bench.metrics import CAPTION_METRICS, MOLECULE_METRICS, PROTOCOLS

NOTE = "icma tasks: signature, counts and budget are in the results JSON (results_*.json)."
_CAPTION = frozenset(CAPTION_METRICS)
_MOLECULE = frozenset(MOLECULE_METRICS)


def direction_of(metric: str) -> str | None:
    """``mol2caption`` / ``caption2mol`` for a score name of either direction (any protocol prefix), else None."""
    base = metric
    for p in PROTOCOLS:
        if metric.startswith(f"{p}_"):
            base = metric[len(p) + 1 :]
            break
    if base in _CAPTION:
        return "mol2caption"
    if base in _MOLECULE:
        return "caption2mol"
    return None


def readable_results(result_dict: dict, column: str) -> tuple[dict, bool]:
    """A copy of lm-eval's results for printing: icma text entries dropped, icma group metrics labelled."""
    out = copy.copy(result_dict)
    entries = dict(result_dict.get(column, {}))
    dropped = False
    for name, values in entries.items():
        if not str(name).startswith("icma"):
            continue
        is_group = column == "groups" or name in result_dict.get("group_subtasks", {})
        kept: dict[str, Any] = {}
        for key, value in values.items():
            metric, _, filt = key.partition(",")
            if isinstance(value, str) and filt and not metric.endswith("_stderr"):
                dropped = True
                continue
            if value is None and filt:
                continue  # undefined (a mean over nothing): null in the results JSON, no table row
            if metric.endswith("_stderr") and metric.removesuffix("_stderr") in (
                "signature",
                "counts",
                "budget",
            ):
                continue
            label = direction_of(metric.removesuffix("_stderr")) if is_group and filt else None
            kept[f"{label}/{metric},{filt}" if label else key] = value
        entries[name] = kept
    out[column] = entries
    hib = {name: dict(v) for name, v in result_dict.get("higher_is_better", {}).items()}
    for name, values in hib.items():
        if str(name).startswith("icma") and name in result_dict.get("group_subtasks", {}):
            values.update({f"{direction_of(m)}/{m}": h for m, h in list(values.items()) if direction_of(m)})
    out["higher_is_better"] = hib
    return out, dropped


def wrap_make_table(make_table: Callable[..., str]) -> Callable[..., str]:
    """lm-eval's ``make_table`` over :func:`readable_results`, with the note when text entries were left out."""

    @functools.wraps(make_table)
    def wrapped(result_dict, column: str = "results", sort_results: bool = False):
        readable, dropped = readable_results(result_dict, column)
        table = make_table(readable, column=column, sort_results=sort_results)
        return f"{table}\n{NOTE}\n" if dropped else table

    wrapped.__icma_bench__ = True
    return wrapped
