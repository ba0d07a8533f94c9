"""Assemble boards: inputs -> measured and reported rows (with provenance) -> best marking and paired tests.

One board per dataset. Measured rows are scored here under every convention (``molt5``, ``icma``, ``strict``);
reported rows carry the convention their paper used. The two never mix: best marking and significance are computed
among measured rows on the same documents only, and a measured row names its reported counterpart
(``reported_as``) so renderers can show the two side by side.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from icma_bench import __version__
from icma_bench.data import Record, load_split
from icma_bench.leaderboard.bootstrap import BootstrapConfig, compute_paired_p
from icma_bench.leaderboard.measure import Measurement, measure_run
from icma_bench.leaderboard.predictions import read_predictions
from icma_bench.leaderboard.results import read_samples
from icma_bench.leaderboard.schema import (
    CONVENTIONS,
    METRICS,
    SCHEMA,
    TASK_CONVENTIONS,
    higher_is_better,
    metric_specs,
)
from icma_bench.leaderboard.sources import BoardInputError, Inputs, Provenance
from icma_bench.metrics.resources import package_version

logger = logging.getLogger(__name__)

CAPTION_TOKENIZER = {
    "molt5": "SciBERT uncased (max 512)",
    "icma": "T5 (molt5-base-smiles2caption, no truncation)",
}
CAPTION_TOKENIZER["strict"] = CAPTION_TOKENIZER["molt5"]
#: tolerance when a results file's numbers are checked against re-scoring its samples (same code: float noise only)
RESULTS_TOLERANCE = 1e-9


@dataclass
class _Measured:
    provenance: Provenance
    task: str
    dataset: str
    measurement: Measurement | None
    file_scores: dict[str, dict[str, float]] | None = None  # results without samples: {protocol: scores}
    file_signature: str | None = None
    extra_counts: dict[str, int] = field(default_factory=dict)
    source_file: str = ""
    n: int | None = None


def training_flag(prov: Provenance, dataset: str, contaminated: dict[str, str]) -> str:
    """What a row's weights saw: this dataset's train split, another dataset (contaminated or not), or nothing."""
    data = prov.training_data
    if prov.method == "baseline":
        return "weight-free baseline"
    if data == "none":
        return "in-context only" if prov.method == "in-context" else "zero-shot"
    sources = [d.strip() for d in data.split("+")]
    for src in sources:
        if src in contaminated:
            return f"contaminated: {contaminated[src]}"
    if f"{dataset}-train" in sources:
        return "fine-tuned on this train"
    if data == "unknown":
        return "unknown"
    return f"fine-tuned on {data}"


def _row_base(prov: Provenance, task: str, dataset: str, kind: str, convention: str, contaminated) -> dict:
    return {
        "id": f"{prov.slug}/{task}/{convention if kind == 'measured' else 'reported'}",
        "kind": kind,
        "dataset": dataset,
        "task": task,
        "convention": convention,
        **prov.to_row(),
        "training_flag": training_flag(prov, dataset, contaminated),
        "caption_tokenizer": CAPTION_TOKENIZER[convention] if task == "mol2caption" else None,
        "best": [],
        "tied_with_best": [],
        "reported_as": f"{prov.reported_as}/{task}/reported" if prov.reported_as else None,
    }


def _value(v) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _load_records(dataset: str, split: str, data_paths: dict[str, Path], cache: dict) -> list[Record]:
    key = (dataset, split)
    if key not in cache:
        cache[key] = load_split(dataset, split, data_paths.get(dataset))
    return cache[key]


def _check_results(run, measurement: Measurement) -> None:
    for p in run.protocols:
        mine = measurement.protocols[p].scores
        for metric, value in mine.items():
            key = metric if p == run.protocols[0] else f"{p}_{metric}"
            theirs = run.scores.get(key) if key in run.scores else run.undefined.get(key, "absent")
            if theirs == "absent" or (_value(theirs) is None and _value(value) is None):
                continue  # not reported by the file, or undefined on both sides (a mean over nothing)
            if (
                _value(theirs) is None
                or _value(value) is None
                or abs(float(theirs) - float(value)) > RESULTS_TOLERANCE
            ):
                raise BoardInputError(
                    f"{run.path}: {run.task_name} reports {key} = {theirs!r} but its samples re-score to "
                    f"{value!r}: the results file and its samples disagree"
                )


def measure_inputs(
    inputs: Inputs,
    config: BootstrapConfig,
    data_paths: dict[str, Path],
    *,
    use_cache: bool = True,
    show_progress: bool = False,
) -> list[_Measured]:
    """Score every measured input (prediction files and results with samples)."""
    from tqdm.auto import tqdm

    records_cache: dict = {}
    jobs = [("p", r) for r in inputs.predictions] + [("r", r) for r in inputs.results]
    out = []
    for kind, run in tqdm(jobs, desc="measuring rows", disable=not show_progress, unit="run"):
        if kind == "p":
            records = _load_records(run.dataset, run.split, data_paths, records_cache)
            aligned = read_predictions(run.path, run.format, run.task, records)
            m = measure_run(
                run.task, aligned.predictions, aligned.references, aligned.cids, config, use_cache=use_cache
            )
            if run.lm_eval_results is not None:
                from icma_bench.leaderboard.results import read_results_file

                matching = [r for r in read_results_file(run.lm_eval_results) if r.task == run.task]
                if not matching:
                    raise BoardInputError(f"{run.lm_eval_results}: no {run.task} task in this results file")
                _check_results(matching[0], m)
            out.append(
                _Measured(
                    run.provenance,
                    run.task,
                    run.dataset,
                    m,
                    extra_counts=aligned.counts,
                    source_file=str(run.path),
                )
            )
        elif run.samples is not None:
            cids, preds, refs = read_samples(run)
            m = measure_run(run.task, preds, refs, cids, config, use_cache=use_cache)
            _check_results(run, m)
            out.append(_Measured(run.provenance, run.task, run.dataset, m, source_file=str(run.path)))
        else:
            per_protocol = {
                p: {
                    k: run.scores.get(k if p == run.protocols[0] else f"{p}_{k}")
                    for k, *_ in METRICS[run.task]
                }
                for p in run.protocols
            }
            out.append(
                _Measured(
                    run.provenance,
                    run.task,
                    run.dataset,
                    None,
                    file_scores=per_protocol,
                    file_signature=run.signature,
                    source_file=str(run.path),
                    n=run.n,
                )
            )
    return out


def _measured_rows(item: _Measured, contaminated: dict[str, str]) -> list[tuple[dict, object]]:
    rows = []
    conventions = item.measurement.protocols if item.measurement else item.file_scores
    for convention in TASK_CONVENTIONS[item.task]:
        if convention not in conventions:
            continue
        row = _row_base(item.provenance, item.task, item.dataset, "measured", convention, contaminated)
        row["source"] = {**row["source"], "file": row["source"].get("file") or Path(item.source_file).name}
        if item.measurement:
            pm = item.measurement.protocols[convention]
            row["scores"] = {
                k: None
                if _value(v) is None
                else {
                    "value": _value(v),
                    "low": pm.intervals.get(k)[0] if pm.intervals.get(k) else None,
                    "high": pm.intervals.get(k)[1] if pm.intervals.get(k) else None,
                }
                for k, v in pm.scores.items()
            }
            row["counts"] = {**pm.counts, **item.extra_counts}
            row["signature"] = pm.signature
            row["n_documents"] = item.measurement.n
            rows.append((row, (item.measurement.doc_key, pm)))
        else:
            row["scores"] = {
                k: None if _value(v) is None else {"value": _value(v), "low": None, "high": None}
                for k, v in item.file_scores[convention].items()
            }
            row["counts"] = {}
            row["signature"] = item.file_signature
            row["n_documents"] = item.n
            row["notes"] = (row["notes"] + " " if row["notes"] else "") + "no samples logged: no interval"
            rows.append((row, None))
    return rows


def mark_best(rows: list[tuple[dict, object]], config: BootstrapConfig) -> None:
    """Per (task, convention, documents) and metric: bold the best measured value; mark rows whose difference from
    it is not significant under the paired bootstrap (p >= alpha)."""
    groups = defaultdict(list)
    for row, stats in rows:
        if stats is not None:
            groups[(row["task"], row["convention"], stats[0])].append((row, stats[1]))
    for (task, _, _), members in groups.items():
        for metric, *_ in METRICS[task]:
            scored = [(r, pm) for r, pm in members if r["scores"].get(metric)]
            if not scored:
                continue
            sign = 1 if higher_is_better(task, metric) else -1
            best_value = max(sign * r["scores"][metric]["value"] for r, _ in scored)
            best = [(r, pm) for r, pm in scored if sign * r["scores"][metric]["value"] == best_value]
            ref_row, ref_pm = best[0]
            for r, pm in scored:
                if any(r is b for b, _ in best):
                    r["best"].append(metric)
                    continue
                if metric not in pm.replicates or metric not in ref_pm.replicates:
                    continue
                p = compute_paired_p(
                    pm.replicates[metric],
                    ref_pm.replicates[metric],
                    r["scores"][metric]["value"],
                    ref_row["scores"][metric]["value"],
                )
                if p is not None and p >= config.alpha:
                    r["tied_with_best"].append(metric)


def build_boards(
    inputs: Inputs,
    *,
    config: BootstrapConfig | None = None,
    data_paths: dict[str, Path] | None = None,
    contaminated: dict[str, dict[str, str]] | None = None,
    use_cache: bool = True,
    show_progress: bool = False,
) -> dict[str, dict]:
    """``{dataset: board}`` (see :mod:`icma_bench.leaderboard.schema`)."""
    config = config or BootstrapConfig()
    data_paths = data_paths or {}
    contaminated = contaminated or {}
    measured = measure_inputs(inputs, config, data_paths, use_cache=use_cache, show_progress=show_progress)
    by_dataset: dict[str, list] = defaultdict(list)
    for item in measured:
        by_dataset[item.dataset].extend(_measured_rows(item, contaminated.get(item.dataset, {})))
    for rep in inputs.reported:
        row = _row_base(
            rep.provenance,
            rep.task,
            rep.dataset,
            "reported",
            rep.convention,
            contaminated.get(rep.dataset, {}),
        )
        row["scores"] = {
            k: {"value": float(rep.scores[k]), "low": None, "high": None} if k in rep.scores else None
            for k, *_ in METRICS[rep.task]
        }
        row["counts"], row["signature"], row["n_documents"], row["reported_as"] = {}, "", None, None
        by_dataset[rep.dataset].append((row, None))
    boards = {}
    for dataset, rows in sorted(by_dataset.items()):
        ids = [r["id"] for r, _ in rows]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise BoardInputError(
                f"{dataset}: two inputs make the same row id(s) {duplicates}; give one an 'id'"
            )
        known = set(ids)
        reported_slugs = {i.split("/")[0] for i in ids if i.endswith("/reported")}
        for row, _ in rows:
            if not row["reported_as"]:
                continue
            if row["reported_as"].split("/")[0] not in reported_slugs:
                raise BoardInputError(
                    f"{row['id']}: reported_as names no reported row ({row['reported_as']})"
                )
            if row["reported_as"] not in known:
                row["reported_as"] = None  # the paper reports the other task only
        mark_best(rows, config)
        n_docs = {r["n_documents"] for r, _ in rows if r["n_documents"]}
        boards[dataset] = {
            "schema": SCHEMA,
            "dataset": dataset,
            "split": "test",
            "n_documents": max(n_docs) if n_docs else None,
            "built_with": {
                "icma_bench": __version__,
                **{name: package_version(name) for name in ("rdkit", "nltk", "rouge-score", "tokenizers")},
            },
            "bootstrap": config.to_dict(),
            "metrics": {task: metric_specs(task) for task in METRICS},
            "conventions": dict(CONVENTIONS),
            "rows": [row for row, _ in rows],
        }
    return boards
