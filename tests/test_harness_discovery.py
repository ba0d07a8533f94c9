"""Discovery: the task YAMLs, the start-up hook, TaskManager patching, model registration, entry points."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from icma_bench.harness import discovery, hooks, scoring
from icma_bench.harness.discovery import MODELS, task_dir, with_task_dir
from icma_bench.metrics import CAPTION_METRICS, MOLECULE_METRICS, PROTOCOLS

REPO = Path(__file__).resolve().parents[1]
DATASETS = ("chebi20", "pubchem324k")
DIRECTIONS = ("mol2caption", "caption2mol")
EXPECTED_TASKS = {
    f"icma_{ds}_{direction}{suffix}"
    for ds in DATASETS
    for direction in DIRECTIONS
    for suffix in ("", "_direct")
}
EXPECTED_GROUPS = {
    f"icma{ds}{suffix}" for ds in ("", "_chebi20", "_pubchem324k") for suffix in ("", "_direct")
}


def _load(path: Path) -> dict:
    from lm_eval.tasks._yaml_loader import load_yaml

    return load_yaml(path, resolve_func=True)


def test_task_dir_is_the_checkout_tasks_folder():
    assert task_dir() == REPO / "tasks"
    names = {p.stem for p in task_dir().glob("*.yaml")}
    assert names == EXPECTED_TASKS | EXPECTED_GROUPS


@pytest.mark.parametrize("path", sorted((REPO / "tasks").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_yaml(path):
    """Generic check of every task/group YAML: names, hooks, metrics and their aggregation, versions."""
    cfg = _load(path)
    assert cfg["metadata"]["version"] == 1.2
    if "group" in cfg:
        assert cfg["group"] == path.stem
        children = cfg["task"]
        assert children and all((REPO / "tasks" / f"{c}.yaml").is_file() for c in children)
        everything = {
            *scoring.score_keys("mol2caption", "molt5+icma+strict"),
            *scoring.score_keys("caption2mol", "molt5+icma+strict"),
        } | {
            scoring.harness_key(name, p) for p in PROTOCOLS for name in (*CAPTION_METRICS, *MOLECULE_METRICS)
        }
        agg = [a["metric"] for a in cfg["aggregate_metric_list"]]
        assert len(agg) == len(set(agg)) == len(everything) + 1  # every score of every protocol, shots_used
        assert set(agg) == everything | {"shots_used"}
        assert all(
            a["aggregation"] == "mean" and a["weight_by_size"] is False for a in cfg["aggregate_metric_list"]
        )
        return
    assert cfg["task"] == path.stem
    kw = cfg["dataset_kwargs"]
    variant = "direct" if path.stem.endswith("_direct") else "icma"
    assert path.stem == f"icma_{kw['dataset']}_{kw['direction']}" + ("_direct" if variant == "direct" else "")
    assert kw["variant"] == variant
    assert cfg["custom_dataset"] is hooks.load_documents
    assert cfg["process_results"] is scoring.process_results
    assert cfg["output_type"] == "generate_until" and cfg["num_fewshot"] == 0
    gen = cfg["generation_kwargs"]
    assert gen["do_sample"] is False and gen["until"] == ["\n\n"]
    assert gen["max_gen_toks"] == 256 and "max_gen_toks" not in cfg["metadata"]  # stated once: gen_kwargs
    names = [m["metric"] for m in cfg["metric_list"]]
    base = CAPTION_METRICS if kw["direction"] == "mol2caption" else MOLECULE_METRICS
    assert names == [
        *scoring.reported_metrics(kw["direction"], "molt5")[:5],
        *(scoring.harness_key(n, p) for p in PROTOCOLS for n in base),
    ]
    assert set(scoring.reported_metrics(kw["direction"])) <= set(names)
    for m in cfg["metric_list"]:
        assert m["aggregation"] is scoring.aggregate
        info = ("scored", "signature", "counts", "budget", "shots_used")
        expected = None if m["metric"] in info else not m["metric"].endswith("levenshtein")
        assert m["higher_is_better"] is expected, m["metric"]
    meta = cfg["metadata"]
    assert (meta["shots"], meta["m2c_method"], meta["c2m_method"], meta["reverse"]) == (
        2,
        "rdkit_fp",
        "bm25",
        True,
    )


def test_with_task_dir_prepends_once():
    ours = str(task_dir())
    assert with_task_dir(None) == ours
    assert with_task_dir("/x") == [ours, "/x"]
    assert with_task_dir(["/x", "/y"]) == [ours, "/x", "/y"]
    assert with_task_dir(task_dir()) == task_dir()  # already there: unchanged, no duplicate index entries
    assert with_task_dir([str(REPO / "tasks" / ".." / "tasks")]) == [str(REPO / "tasks" / ".." / "tasks")]


def test_install_registers_models_without_hiding_builtins():
    discovery.install()
    discovery.install()  # idempotent
    from lm_eval.api.registry import get_model

    from icma_bench.harness.models import CopyModel, EchoModel

    assert get_model("icma-copy") is CopyModel and get_model("icma-echo") is EchoModel
    assert get_model("hf").__name__ == "HFLM"  # the built-in registry was filled before ours
    from lm_eval.tasks import TaskManager

    assert TaskManager.__init__.__icma_bench__ is True


def test_task_manager_sees_our_tasks_without_include_path():
    discovery.install()
    from lm_eval.tasks import TaskManager

    tm = TaskManager(include_defaults=False)
    assert set(tm.all_tasks) >= EXPECTED_TASKS | EXPECTED_GROUPS
    assert tm.task_index["icma_chebi20_mol2caption"].yaml_path == task_dir() / "icma_chebi20_mol2caption.yaml"
    assert set(tm.all_groups) >= EXPECTED_GROUPS


def test_user_include_path_overrides_our_task(tmp_path):
    discovery.install()
    from lm_eval.tasks import TaskManager

    (tmp_path / "mine.yaml").write_text(
        "include: " + str(task_dir() / "_icma_mol2caption_yaml") + "\ntask: icma_chebi20_mol2caption\n"
        "dataset_kwargs: {dataset: chebi20, direction: mol2caption, variant: direct}\n"
    )
    tm = TaskManager(include_defaults=False, include_path=str(tmp_path))
    assert tm.task_index["icma_chebi20_mol2caption"].yaml_path == tmp_path / "mine.yaml"


def test_entry_points_declared_for_newer_lm_eval():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    models = project["entry-points"]["lm_eval.models"]
    assert models == MODELS
    assert project["entry-points"]["lm_eval.tasks"] == {"icma_bench": "icma_bench.harness.discovery:task_dir"}
    from lm_eval.api.model import LM

    for target in models.values():
        module, _, name = target.partition(":")
        assert issubclass(getattr(importlib.import_module(module), name), LM)


def _run(code: str, **env: str) -> str:
    full_env = {**os.environ, **env}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip()


_PROBE = (
    "import sys, lm_eval.tasks\n"
    "from lm_eval.api.registry import get_model, model_registry\n"
    "print('icma-copy' in model_registry, get_model('hf').__name__ == 'HFLM',"
    " getattr(lm_eval.tasks.TaskManager.__init__, '__icma_bench__', False))\n"
)


def test_startup_watcher_installs_on_lm_eval_import():
    """The finder the .pth installs, exercised in a fresh interpreter without relying on the .pth itself."""
    code = (
        "import os, sys\n"
        "os.environ.pop('ICMA_BENCH_NO_HOOK')\n"
        "import icma_bench.harness.startup as s\n"
        "assert 'lm_eval' not in sys.modules\n"
        "assert s.install_watcher() and type(sys.meta_path[0]).__name__ == 'LmEvalWatcher'\n"
        + _PROBE
        + "print(any(type(f).__name__ == 'LmEvalWatcher' for f in sys.meta_path))\n"
    )
    assert _run(code, ICMA_BENCH_NO_HOOK="1").splitlines() == ["True True True", "False"]


def test_startup_hook_can_be_switched_off():
    assert _run(_PROBE, ICMA_BENCH_NO_HOOK="1") == "False True False"


@pytest.mark.skipif(
    importlib.util.find_spec("_icma_bench_startup") is None,
    reason="icma-bench's start-up hook is not installed here (pip install -e . installs it)",
)
def test_installed_pth_hook_is_active():
    assert _run(_PROBE) == "True True True"
    assert "LmEvalWatcher" in _run("import sys; print([type(f).__name__ for f in sys.meta_path])")


def test_eval_wrapper_passes_arguments_to_lm_eval(capsys):
    from icma_bench.cli import build_parser, main

    assert "eval" in build_parser().format_help()
    assert main(["eval", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: lm-eval")  # lm-eval's own help
    assert main(["eval", "run", "--bogus-flag"]) == 2  # lm-eval's argparse error code comes back
    assert sys.argv[0] != "lm_eval"  # restored
