"""Board inputs: what a row is made from, validated, with its provenance.

Three kinds of input, found under the INPUTS paths of ``icma-bench leaderboard build`` by
:func:`icma_bench.leaderboard.collect.collect_inputs`:

- **Prediction manifests** (``*.yaml`` with ``kind: predictions``): runs whose outputs are files (MolT5 TSV,
  MolReGPT TSV, JSONL), each with the provenance a row needs (see :data:`RUN_FIELDS`). A path starting with
  ``$RELEASED/`` is resolved against the released-outputs folder (``--released``); other relative paths against the
  manifest's folder.
- **Reported manifests** (``kind: reported``): numbers from papers, each row with its citation and convention.
- **lm-eval result files** (``results_*.json``, with ``samples_<task>_*.jsonl[.gz]`` beside them when logged), and
  an optional ``row.yaml`` in the same folder giving what a results file cannot know (family, training data).

Every problem is a :class:`BoardInputError` naming the file (and the run or row).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from icma_bench.leaderboard.schema import METHODS, METRICS, format_params
from icma_bench.metrics.protocols import PROTOCOLS, TASKS


class BoardInputError(ValueError):
    """An input of a board that cannot be used; the message names the file."""


#: Provenance every run and reported row must state (``params: null`` = undisclosed, e.g. API models).
RUN_FIELDS = ("model", "family", "params", "method", "training_data", "decoding", "source")
OPTIONAL_FIELDS = ("shots", "retriever", "notes", "reported_as", "pool", "id")
FORMATS = ("molt5-tsv", "molregpt-tsv", "jsonl")
RELEASED_PREFIX = "$RELEASED/"
#: what the weights were tuned on -> the training-data flag (see also the overlap table).
TRAINING_FLAGS = {"none": "zero-shot or in-context only"}


@dataclass
class Provenance:
    model: str
    family: str
    params: int | None
    method: str
    training_data: str
    decoding: str
    source: dict
    shots: int | None = None
    retriever: str | dict | None = (
        None  # a manifest may give one per task: {mol2caption: ..., caption2mol: ...}
    )
    notes: str = ""
    reported_as: str | None = None
    pool: str | None = None
    id: str | None = None

    def to_row(self) -> dict:
        return {
            "model": self.model,
            "family": self.family,
            "params": self.params,
            "params_label": format_params(self.params),
            "method": self.method,
            "shots": self.shots,
            "retriever": self.retriever,
            "training_data": self.training_data,
            "decoding": self.decoding,
            "source": self.source,
            "pool": self.pool,
            "notes": self.notes,
        }

    @property
    def slug(self) -> str:
        return self.id or re.sub(r"[^a-z0-9.]+", "-", self.model.lower()).strip("-")


@dataclass
class PredictionRun:
    """One task of one run whose outputs are a file."""

    provenance: Provenance
    task: str
    path: Path
    format: str
    manifest: Path
    dataset: str
    split: str
    claimed: dict = field(default_factory=dict)  # {convention: {metric: value}} a submission says it scores
    lm_eval_results: Path | None = None  # the lm-eval results file these outputs came from (checked against)


@dataclass
class ResultsRun:
    """One task of an lm-eval results file."""

    provenance: Provenance
    task: str
    path: Path
    task_name: str
    protocols: tuple[str, ...]
    scores: dict[str, float]
    undefined: dict[str, None]  # metrics the file reports as null / NaN (a mean over nothing)
    counts: str
    signature: str
    samples: Path | None
    dataset: str
    split: str
    n: int


@dataclass
class ReportedRow:
    provenance: Provenance
    task: str
    convention: str
    scores: dict[str, float]
    manifest: Path
    dataset: str


@dataclass
class Inputs:
    predictions: list[PredictionRun] = field(default_factory=list)
    results: list[ResultsRun] = field(default_factory=list)
    reported: list[ReportedRow] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # every file read (for the build record)


def _load_yaml(path: Path) -> Any:
    from icma_bench.yamlfiles import YamlError, load_yaml_file

    try:
        return load_yaml_file(path)
    except YamlError as exc:
        raise BoardInputError(str(exc)) from None


def parse_provenance(entry: dict, where: str, *, defaults: dict | None = None) -> Provenance:
    """A run's provenance from a manifest entry (over the manifest's ``defaults``); every field checked."""
    merged = {**(defaults or {}), **entry}
    missing = [f for f in RUN_FIELDS if f not in merged]
    if missing:
        raise BoardInputError(f"{where}: missing field(s) {missing} (every run states {list(RUN_FIELDS)})")
    params = merged["params"]
    if params is not None and (isinstance(params, bool) or not isinstance(params, int) or params <= 0):
        raise BoardInputError(
            f"{where}: params must be a positive integer or null (undisclosed), got {params!r}"
        )
    if merged["method"] not in METHODS:
        raise BoardInputError(f"{where}: method {merged['method']!r} is not one of {list(METHODS)}")
    shots = merged.get("shots")
    if merged["method"] == "in-context" and not (isinstance(shots, int) and shots > 0):
        raise BoardInputError(f"{where}: an in-context run states its shots (a positive integer)")
    source = merged["source"]
    if not isinstance(source, dict) or not source.get("name"):
        raise BoardInputError(f"{where}: source must be a mapping with at least a name (and url/file)")
    for key in ("model", "family", "training_data", "decoding"):
        if not isinstance(merged[key], str) or not merged[key].strip():
            raise BoardInputError(f"{where}: {key} must be a non-empty string")
    return Provenance(
        **{k: merged.get(k) for k in (*RUN_FIELDS, *OPTIONAL_FIELDS)} | {"notes": merged.get("notes") or ""}
    )


def _resolve(raw: str, manifest: Path, released: Path | None) -> Path:
    if raw.startswith(RELEASED_PREFIX):
        if released is None:
            raise BoardInputError(f"{manifest}: {raw} needs the released-outputs folder (--released DIR)")
        return released / raw[len(RELEASED_PREFIX) :]
    p = Path(raw)
    return p if p.is_absolute() else manifest.parent / p


def _read_predictions_manifest(path: Path, doc: dict, released: Path | None, inputs: Inputs) -> None:
    dataset, split = doc.get("dataset"), doc.get("split", "test")
    if not isinstance(dataset, str):
        raise BoardInputError(f"{path}: a predictions manifest names its dataset (dataset: chebi20)")
    runs = doc.get("runs")
    if not isinstance(runs, list) or not runs:
        raise BoardInputError(f"{path}: expected a non-empty list under 'runs'")
    defaults = doc.get("defaults") or {}
    for i, entry in enumerate(runs):
        where = f"{path}: runs[{i}]"
        if not isinstance(entry, dict):
            raise BoardInputError(f"{where}: expected a mapping")
        unknown = set(entry) - {*RUN_FIELDS, *OPTIONAL_FIELDS, *TASKS, "format", "claimed", "lm_eval_results"}
        if unknown:
            raise BoardInputError(f"{where}: unknown key(s) {sorted(unknown)}")
        prov = parse_provenance(
            {k: v for k, v in entry.items() if k not in (*TASKS, "format", "claimed", "lm_eval_results")},
            where,
            defaults=defaults,
        )
        claimed = entry.get("claimed") or {}
        if not isinstance(claimed, dict) or set(claimed) - set(TASKS):
            raise BoardInputError(
                f"{where}: claimed maps tasks {list(TASKS)} to {{convention: {{metric: value}}}}"
            )
        fmt = entry.get("format", defaults.get("format"))
        if fmt not in FORMATS:
            raise BoardInputError(f"{where}: format {fmt!r} is not one of {list(FORMATS)}")
        tasks = [t for t in TASKS if t in entry]
        if not tasks:
            raise BoardInputError(f"{where}: names no prediction file (keys {list(TASKS)})")
        for task in tasks:
            file = _resolve(str(entry[task]), path, released)
            if not file.is_file():
                raise BoardInputError(f"{where}: {task} prediction file not found: {file}")
            results = (
                (entry.get("lm_eval_results") or {}).get(task)
                if isinstance(entry.get("lm_eval_results"), dict)
                else None
            )
            results_path = _resolve(str(results), path, released) if results else None
            if results_path is not None and not results_path.is_file():
                raise BoardInputError(f"{where}: {task} lm_eval_results file not found: {results_path}")
            task_prov = (
                replace(prov, retriever=prov.retriever.get(task))
                if isinstance(prov.retriever, dict)
                else prov
            )
            inputs.predictions.append(
                PredictionRun(
                    task_prov, task, file, fmt, path, dataset, split, claimed.get(task) or {}, results_path
                )
            )
            if results_path is not None:
                inputs.files.append(results_path)
            inputs.files.append(file)


def _read_reported_manifest(path: Path, doc: dict, inputs: Inputs) -> None:
    dataset = doc.get("dataset")
    rows = doc.get("rows")
    if not isinstance(dataset, str) or not isinstance(rows, list):
        raise BoardInputError(f"{path}: a reported manifest has 'dataset' and a list of 'rows'")
    defaults = doc.get("defaults") or {}
    for i, entry in enumerate(rows):
        where = f"{path}: rows[{i}]"
        if not isinstance(entry, dict):
            raise BoardInputError(f"{where}: expected a mapping")
        task, convention, scores = entry.get("task"), entry.get("convention"), entry.get("scores")
        if task not in TASKS:
            raise BoardInputError(f"{where}: task must be one of {list(TASKS)}")
        if convention not in PROTOCOLS:
            raise BoardInputError(f"{where}: convention must be one of {list(PROTOCOLS)}")
        known = {m for m, *_ in METRICS[task]}
        if not isinstance(scores, dict) or not scores or set(scores) - known:
            raise BoardInputError(f"{where}: scores must map {task} metrics {sorted(known)} to numbers")
        for name, value in scores.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise BoardInputError(f"{where}: score {name} = {value!r} is not a finite number")
        prov = parse_provenance(
            {k: v for k, v in entry.items() if k not in ("task", "convention", "scores")},
            where,
            defaults=defaults,
        )
        inputs.reported.append(ReportedRow(prov, task, convention, dict(scores), path, dataset))


def read_manifest(path: Path, released: Path | None, inputs: Inputs) -> None:
    doc = _load_yaml(path)
    if not isinstance(doc, dict) or doc.get("kind") not in ("predictions", "reported"):
        raise BoardInputError(f"{path}: a board manifest has 'kind: predictions' or 'kind: reported'")
    inputs.files.append(path)
    if doc["kind"] == "predictions":
        _read_predictions_manifest(path, doc, released, inputs)
    else:
        _read_reported_manifest(path, doc, inputs)
