"""lm-eval result files as board inputs.

A ``results_<timestamp>.json`` written by ``lm_eval --tasks icma_...`` holds, per icma task, the corpus scores, our
``signature`` (protocol, tokenizer, versions) and counts; ``samples_<task>_<timestamp>.jsonl`` beside it (with
``--log_samples``) holds every document's prediction and reference, from which the board re-scores the run (and so
checks the results file) and draws its intervals. Without samples a row has point values only.

Provenance comes from the file (model arguments, parameter count, task metadata: shots, retriever, pool) and, for
what a results file cannot know (family, what the weights were tuned on), from a ``row.yaml`` in the same folder
(its keys override; see :data:`icma_bench.leaderboard.sources.RUN_FIELDS`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from icma_bench.leaderboard.sources import (
    OPTIONAL_FIELDS,
    RUN_FIELDS,
    BoardInputError,
    ResultsRun,
    _load_yaml,
    parse_provenance,
)
from icma_bench.leaderboard.streams import iter_text_lines
from icma_bench.metrics.protocols import parse_protocols

_TASK = re.compile(
    r"^icma_(?P<dataset>chebi20|pubchem324k)_(?P<task>mol2caption|caption2mol)(?P<direct>_direct)?$"
)
_BASELINES = {"icma-copy": "retrieval copy (rank-1 shot's answer)", "icma-echo": "echo of the query"}


def _signature_field(signature: str, name: str) -> str | None:
    for part in signature.split("|"):
        key, _, value = part.partition(":")
        if key == name:
            return value
    return None


def _samples_path(results: Path, task_name: str) -> Path | None:
    stamp = results.stem.removeprefix("results_")
    for suffix in (".jsonl", ".jsonl.gz"):
        candidate = results.parent / f"samples_{task_name}_{stamp}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


def _derived_provenance(doc: dict, task_name: str, direct: bool, task: str, path: Path) -> dict:
    # Every field may be anything in a foreign or damaged file: read mappings defensively, validate afterwards.
    config = _mapping(doc.get("config"))
    model_args = config.get("model_args")
    if isinstance(model_args, str):
        model_args = dict(kv.split("=", 1) for kv in model_args.split(",") if "=" in kv)
    model_args = _mapping(model_args)
    backend = str(config.get("model", ""))
    pretrained = str(model_args.get("pretrained", backend or "unknown"))
    meta = _mapping(_mapping(_mapping(doc.get("configs")).get(task_name)).get("metadata"))
    params = config.get("model_num_parameters")
    gen = _mapping(config.get("gen_kwargs"))
    sampling = bool(gen.get("do_sample"))
    method = "baseline" if backend in _BASELINES else "zero-shot" if direct else "in-context"
    return {
        "model": backend if backend in _BASELINES else pretrained.rstrip("/").split("/")[-1],
        "family": backend if backend in _BASELINES else pretrained.rstrip("/").split("/")[-1].split("-")[0],
        "params": params if isinstance(params, int) and params > 0 and backend not in _BASELINES else None,
        "method": method,
        "shots": None if direct else meta.get("shots"),
        "retriever": None if direct else meta.get("m2c_method" if task == "mol2caption" else "c2m_method"),
        "pool": None if direct else meta.get("pool_split"),
        "training_data": "unknown",
        "decoding": "sampling" if sampling else "greedy",
        "source": {"name": "lm-eval results", "file": path.name},
    }


def read_results_file(path: Path) -> list[ResultsRun]:
    """Every icma task of one results file, validated (our signature present, one protocol set per file)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BoardInputError(
            f"{path}: not a readable lm-eval results file ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict):
        raise BoardInputError(f"{path}: not an lm-eval results file (no 'results' mapping)")
    overrides = {}
    row_yaml = path.parent / "row.yaml"
    if row_yaml.is_file():
        overrides = _load_yaml(row_yaml) or {}
        unknown = set(overrides) - {*RUN_FIELDS, *OPTIONAL_FIELDS}
        if not isinstance(overrides, dict) or unknown:
            raise BoardInputError(f"{row_yaml}: unknown key(s) {sorted(unknown)}")
    ours = {}
    for task_name, entry in sorted(doc["results"].items()):
        match = _TASK.match(task_name)
        if not match:
            continue  # groups and other benchmarks' tasks
        signature = entry.get("signature,none") if isinstance(entry, dict) else None
        if not isinstance(signature, str) or not signature.startswith("protocol:"):
            raise BoardInputError(
                f"{path}: task {task_name} has no icma-bench signature (not produced by icma-bench's tasks?)"
            )
        try:
            ours[task_name] = (
                match,
                entry,
                signature,
                parse_protocols(_signature_field(signature, "protocol") or ""),
            )
        except ValueError as exc:
            raise BoardInputError(f"{path}: task {task_name}: {exc}") from None
    protocols_seen = {item[3] for item in ours.values()}
    if len(protocols_seen) > 1:
        raise BoardInputError(
            f"{path}: mixed metric protocols across tasks ({sorted('+'.join(p) for p in protocols_seen)}); "
            "a board compares rows under one protocol set"
        )
    runs = []
    for task_name, (match, entry, signature, protocols) in ours.items():
        task = match["task"]
        where = f"{path}: {task_name}"
        prov = parse_provenance(
            {**_derived_provenance(doc, task_name, bool(match["direct"]), task, path), **overrides}, where
        )
        scores = {
            key.removesuffix(",none"): value
            for key, value in entry.items()
            if key.endswith(",none") and isinstance(value, (int, float)) and not isinstance(value, bool)
        }
        # null (strict JSON) or a bare NaN (older files): a metric the run could not define
        undefined = {
            key.removesuffix(",none"): None
            for key, value in entry.items()
            if key.endswith(",none") and (value is None or (isinstance(value, float) and value != value))
        }
        scores = {k: v for k, v in scores.items() if k not in undefined}
        runs.append(
            ResultsRun(
                provenance=prov,
                task=task,
                path=path,
                task_name=task_name,
                protocols=protocols,
                scores=scores,
                undefined=undefined,
                counts=str(entry.get("counts,none", "")),
                signature=signature,
                samples=_samples_path(path, task_name),
                dataset=match["dataset"],
                split="test",
                n=_count(entry.get("sample_len"))
                or _count(_mapping(_mapping(doc.get("n-samples")).get(task_name)).get("effective")),
            )
        )
    if not runs:
        raise BoardInputError(f"{path}: no icma task in this results file")
    return runs


def read_samples(run: ResultsRun) -> tuple[list[str], list[str], list[str]]:
    """``(cids, predictions, references)`` of a run's samples file, in document order."""
    assert run.samples is not None
    rows = []
    for lineno, line in iter_text_lines(run.samples):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            scored, docinfo = row["scored"], row["doc"]
            rows.append((int(row["doc_id"]), str(docinfo["cid"]), scored["prediction"], scored["reference"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise BoardInputError(
                f"{run.samples}:{lineno}: not an icma samples row ({type(exc).__name__})"
            ) from None
    rows.sort()
    return [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]
