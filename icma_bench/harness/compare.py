"""Run the icma tasks for several models through lm-eval's own API (``simple_evaluate``), one results folder each.

The model list (a small YAML, or ``--model`` on the command line) says, per model: ``name`` (its results folder),
``backend`` (any lm-eval model type: ``hf``, ``vllm``, ``local-completions`` for an OpenAI-compatible server, our
``icma-copy``/``icma-echo``), ``model_args`` (lm-eval's string or a mapping), ``params`` (parameter count, for the
size axis; omit or null for API models of undisclosed size) and optionally ``family``, ``training_data``,
``method``, ``gen_kwargs``, ``batch_size``, ``device`` (default: cuda when available, else cpu). A model whose folder already holds results for every requested task is
skipped (``force`` re-runs it). Each run logs samples (the board re-scores and bootstraps them) and writes a
``row.yaml`` beside its results so the board knows family, size and training data.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from icma_bench.files import write_atomic

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MODEL_KEYS = {
    "name",
    "backend",
    "model_args",
    "params",
    "family",
    "training_data",
    "method",
    "gen_kwargs",
    "batch_size",
}


class CompareSpecError(ValueError):
    """A model list that cannot be run; the message names the file and the entry."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    backend: str
    model_args: str
    params: int | None = None
    family: str | None = None
    training_data: str = "unknown"
    method: str | None = None
    gen_kwargs: str | None = None
    batch_size: str | int = 1
    device: str | None = None  # None: cuda when available, else cpu


@dataclass
class CompareSpec:
    models: list[ModelSpec]
    tasks: list[str] = field(default_factory=lambda: ["icma_chebi20"])
    limit: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def _model_args(value: Any, where: str) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, str):
        return value
    raise CompareSpecError(f"{where}: model_args is a string (k=v,k=v) or a mapping")


def parse_model(entry: dict, where: str) -> ModelSpec:
    if not isinstance(entry, dict):
        raise CompareSpecError(f"{where}: expected a mapping")
    unknown = set(entry) - MODEL_KEYS
    if unknown:
        raise CompareSpecError(f"{where}: unknown key(s) {sorted(unknown)} (known: {sorted(MODEL_KEYS)})")
    for key in ("name", "backend"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise CompareSpecError(f"{where}: '{key}' is required")
    if not _NAME.match(entry["name"]):
        raise CompareSpecError(
            f"{where}: name {entry['name']!r} must be a plain folder name ([A-Za-z0-9._-])"
        )
    params = entry.get("params")
    if params is not None and (isinstance(params, bool) or not isinstance(params, int) or params <= 0):
        raise CompareSpecError(f"{where}: params must be a positive integer or null (undisclosed)")
    return ModelSpec(
        name=entry["name"],
        backend=entry["backend"],
        model_args=_model_args(entry.get("model_args", ""), where),
        params=params,
        family=entry.get("family"),
        training_data=entry.get("training_data", "unknown"),
        method=entry.get("method"),
        gen_kwargs=entry.get("gen_kwargs"),
        batch_size=entry.get("batch_size", 1),
        device=entry.get("device"),
    )


def load_compare_spec(path: Path) -> CompareSpec:
    from icma_bench.yamlfiles import YamlError, load_yaml_file

    try:
        doc = load_yaml_file(path)
    except YamlError as exc:
        raise CompareSpecError(str(exc)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("models"), list) or not doc["models"]:
        raise CompareSpecError(f"{path}: expected a mapping with a non-empty 'models' list")
    unknown = set(doc) - {"models", "tasks", "limit", "metadata"}
    if unknown:
        raise CompareSpecError(f"{path}: unknown key(s) {sorted(unknown)}")
    models = [parse_model(m, f"{path}: models[{i}]") for i, m in enumerate(doc["models"])]
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise CompareSpecError(f"{path}: two models share a name")
    tasks = doc.get("tasks", ["icma_chebi20"])
    if isinstance(tasks, str):
        tasks = [t.strip() for t in tasks.split(",") if t.strip()]
    return CompareSpec(models, list(tasks), doc.get("limit"), dict(doc.get("metadata") or {}))


def leaf_tasks(tasks: list[str]) -> set[str]:
    """Our groups expanded to their tasks, read from the shipped task YAMLs (without building any dataset); names
    that are not our groups are taken as they are."""
    from icma_bench.harness.discovery import task_dir
    from icma_bench.yamlfiles import YamlError, load_yaml_file

    out: set[str] = set()
    pending = list(tasks)
    while pending:
        name = pending.pop()
        path = task_dir() / f"{name}.yaml"
        doc = {}
        if path.is_file():
            try:
                doc = load_yaml_file(path, tag_tolerant=True) or {}
            except YamlError:
                doc = {}
        if isinstance(doc, dict) and doc.get("group") == name and isinstance(doc.get("task"), list):
            pending.extend(str(t) for t in doc["task"])
        else:
            out.add(name)
    return out


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def has_results(folder: Path, tasks: set[str]) -> bool:
    """Whether ``folder`` already holds lm-eval results (with samples) for every task in ``tasks``."""
    done = set()
    for f in Path(folder).rglob("results_*.json"):
        try:
            results = json.loads(f.read_text(encoding="utf-8")).get("results", {})
        except (OSError, ValueError):
            continue
        stamp = f.stem.removeprefix("results_")
        done |= {t for t in results if (f.parent / f"samples_{t}_{stamp}.jsonl").is_file()}
    return tasks <= done


def _row_yaml(model: ModelSpec) -> str:
    import yaml

    row: dict[str, Any] = {"model": model.name, "family": model.family or model.name.split("-")[0]}
    if model.params is not None:  # else the results file's parameter count (none for API models)
        row["params"] = model.params
    row["training_data"] = model.training_data
    if model.method:
        row["method"] = model.method
    return yaml.safe_dump(row, sort_keys=False)


def run_models(spec: CompareSpec, output: Path, *, force: bool = False) -> list[Path]:
    """Evaluate every model of ``spec`` not yet done; returns the results folders (one per model)."""
    from icma_bench.harness.discovery import install

    install()
    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.utils import handle_non_serializable

    folders = []
    for model in spec.models:
        folder = Path(output) / model.name
        folders.append(folder)
        expected = leaf_tasks(spec.tasks)
        if not force and has_results(folder, expected):
            logger.warning(
                "%s: results for %s already exist; skipped", model.name, ", ".join(sorted(expected))
            )
            continue
        tracker = EvaluationTracker(output_path=str(folder))
        results = lm_eval.simple_evaluate(
            model=model.backend,
            model_args=model.model_args,
            tasks=spec.tasks,
            limit=spec.limit,
            batch_size=model.batch_size,
            device=model.device or _default_device(),
            gen_kwargs=model.gen_kwargs,
            log_samples=True,
            evaluation_tracker=tracker,
            metadata=dict(spec.metadata),
        )
        if results is None:
            raise RuntimeError(f"{model.name}: lm-eval returned no results")
        samples = results.pop("samples")
        json.dumps(results, default=handle_non_serializable)  # fail before writing anything unserialisable
        tracker.save_results_aggregated(results=results, samples=samples)
        for task_name in results["configs"]:
            tracker.save_results_samples(task_name=task_name, samples=samples[task_name])
        for results_file in folder.rglob("results_*.json"):
            write_atomic(results_file.parent / "row.yaml", _row_yaml(model))
    return folders
