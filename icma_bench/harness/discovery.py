"""Discovery: how lm-eval finds icma-bench's task YAMLs and baseline models.

Three ways in, all ending in :func:`install` or :func:`task_dir`:

- the start-up hook (``icma_bench.pth`` -> :mod:`icma_bench.harness.startup`) calls :func:`install` the first time a
  program imports ``lm_eval.tasks``, so stock ``lm_eval``/``lm-eval``, ``python -m lm_eval`` and
  ``accelerate launch -m lm_eval`` work with no flags;
- ``icma-bench eval ...`` calls :func:`install` itself, then runs lm-eval's own CLI;
- the Python API: ``TaskManager(include_path=task_dir())`` (and models by name after :func:`install`).

The ``lm_eval.models`` entry points in ``pyproject.toml`` (one per alias, ``name = "module:Class"``) are what lm-eval
releases after 0.4.13 read; there models resolve without this hook.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.util
import inspect
import logging
import math
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

#: Baseline models registered for lm-eval: alias -> lazy "module:Class" target (imported only when requested).
MODELS: dict[str, str] = {
    "icma-copy": "icma_bench.harness.models:CopyModel",
    "icma-echo": "icma_bench.harness.models:EchoModel",
}

# A file that must be in the task folder: tells the wheel layout and the source layout apart from a stale folder.
_MARKER = "icma_chebi20_mol2caption.yaml"
_GROUP_LOGGER = "lm_eval.api.group"


def task_dir() -> Path:
    """The folder holding icma-bench's lm-eval task YAMLs (inside the wheel, or ``tasks/`` of a source checkout)."""
    package = Path(__file__).resolve().parent.parent
    candidates = (package / "tasks", package.parent / "tasks")
    for candidate in candidates:
        if (candidate / _MARKER).is_file():
            return candidate
    raise FileNotFoundError(
        "icma-bench task YAMLs not found; looked in "
        + ", ".join(str(c) for c in candidates)
        + ". Fix: reinstall icma-bench (`pip install -e .` in a checkout)."
    )


def install() -> None:
    """Register the baseline models and add :func:`task_dir` to every ``TaskManager`` (idempotent)."""
    # Built-ins first: lm-eval fills its registries lazily only while they are empty, so registering into an empty
    # model registry would hide `hf`, `vllm`, ... (`get_model` imports lm_eval.models only when len(registry) == 0).
    import lm_eval.api.metrics  # noqa: F401
    import lm_eval.models  # noqa: F401
    from lm_eval.api.registry import model_registry
    from lm_eval.tasks.manager import TaskManager

    for alias, target in MODELS.items():
        if (
            alias not in model_registry
        ):  # an entry point (newer lm-eval) or an earlier install got there first
            model_registry.register(alias, target=target)
    _patch_task_manager(TaskManager)
    _patch_simple_evaluate()
    _patch_make_table()
    _quiet_expected_group_warnings()
    logger.debug("icma-bench installed into lm-eval: tasks from %s, models %s", task_dir(), sorted(MODELS))


def with_task_dir(include_path: str | Path | list | tuple | None) -> str | Path | list:
    """``include_path`` with our task folder first (user paths come later, so they can override our tasks)."""
    ours = task_dir()
    paths = (
        []
        if include_path is None
        else list(include_path)
        if isinstance(include_path, list | tuple)
        else [include_path]
    )
    if any(Path(p).expanduser().resolve() == ours for p in paths):
        return include_path if include_path is not None else str(ours)
    return [str(ours), *paths] if paths else str(ours)


def _patch_task_manager(cls: type) -> None:
    original = cls.__init__
    if getattr(original, "__icma_bench__", False):
        return
    signature = inspect.signature(original)

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        arguments = dict(bound.arguments)
        arguments.pop("self")
        arguments["include_path"] = with_task_dir(arguments.get("include_path"))
        _patch_simple_evaluate()  # lm_eval.evaluator is complete by the time a TaskManager is built
        original(self, **arguments)

    __init__.__icma_bench__ = True
    cls.__init__ = __init__


def _patch_simple_evaluate() -> None:
    """Record, for the task hook, which metadata keys are model arguments and the run's generation length.

    lm-eval merges ``model_args`` into every task's metadata before the hook sees it, and the generation length
    lives in ``gen_kwargs``, which the hook never sees: without this the hook could tell neither a mistyped option
    from a model argument, nor budget for a ``--gen_kwargs max_gen_toks=N``. Both ways in are wrapped: the package
    attribute ``lm_eval.simple_evaluate`` (what lm-eval's CLI and the README's API use; set here, so lm-eval's lazy
    ``__getattr__`` never runs) and ``lm_eval.evaluator.simple_evaluate`` once that module has been executed.
    """
    import lm_eval

    if not getattr(lm_eval.__dict__.get("simple_evaluate"), "__icma_bench__", False):

        def simple_evaluate(*args, **kwargs):
            import lm_eval.evaluator

            target = lm_eval.evaluator.simple_evaluate
            if getattr(target, "__icma_bench__", False):
                return target(*args, **kwargs)
            return with_run_context(target)(*args, **kwargs)

        simple_evaluate.__icma_bench__ = True
        lm_eval.simple_evaluate = simple_evaluate
    evaluator = sys.modules.get("lm_eval.evaluator")
    if evaluator is None:
        _after_import("lm_eval.evaluator", _patch_simple_evaluate)
    elif hasattr(evaluator, "simple_evaluate") and not getattr(
        evaluator.simple_evaluate, "__icma_bench__", False
    ):
        evaluator.simple_evaluate = with_run_context(evaluator.simple_evaluate)
    # else: lm_eval.evaluator is being imported right now (it imports lm_eval.tasks); the package attribute above
    # and the TaskManager hook (which calls this again) cover it.


def with_run_context(original):
    """``simple_evaluate`` that sets :data:`icma_bench.harness.options.RUN` for the duration of the call."""
    from icma_bench.harness.options import (
        DEFAULT_MAX_GEN_TOKS,
        RUN,
        RunContext,
        parse_gen_max_tokens,
        parse_model_args,
    )

    signature = inspect.signature(original)

    @functools.wraps(original)
    def simple_evaluate(*args, **kwargs):
        bound = signature.bind_partial(*args, **kwargs).arguments
        model = bound.get("model", "hf")
        max_gen = parse_gen_max_tokens(bound.get("gen_kwargs"))
        context = RunContext(
            model=model if isinstance(model, str) else type(model).__name__,
            model_arg_keys=frozenset(parse_model_args(bound.get("model_args"))),
            max_gen_toks=max_gen or DEFAULT_MAX_GEN_TOKS,
            max_gen_toks_source="--gen_kwargs" if max_gen else "task default",
        )
        token = RUN.set(context)
        try:
            return strict_json_results(original(*args, **kwargs))
        finally:
            RUN.reset(token)

    simple_evaluate.__icma_bench__ = True
    return simple_evaluate


def strict_json_results(results: dict | None) -> dict | None:
    """icma entries of lm-eval's results with NaN (a mean over nothing, e.g. fingerprint similarity when no output
    is valid) as None, so the results file lm-eval writes is strict JSON (a bare ``NaN`` breaks most readers)."""
    if not isinstance(results, dict):
        return results
    for column in ("results", "groups"):
        for name, values in (results.get(column) or {}).items():
            if str(name).startswith("icma") and isinstance(values, dict):
                for key, value in values.items():
                    if isinstance(value, float) and not math.isfinite(value):
                        values[key] = None
    return results


class _AfterImport:
    """A one-shot ``sys.meta_path`` finder: runs ``callback`` right after module ``name`` has been executed."""

    def __init__(self, name: str, callback) -> None:
        self.name, self.callback = name, callback

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader, callback = spec.loader, self.callback

        class _Loader(importlib.abc.Loader):
            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module):
                loader.exec_module(module)
                callback()

        spec.loader = _Loader()
        return spec


def _after_import(name: str, callback) -> None:
    if not any(isinstance(f, _AfterImport) and f.name == name for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(name, callback))


def _patch_make_table() -> None:
    """lm-eval's printed tables, readable for icma tasks (see :func:`icma_bench.harness.display.render_table`)."""
    import lm_eval.utils

    from icma_bench.harness.display import wrap_make_table

    if not getattr(lm_eval.utils.make_table, "__icma_bench__", False):
        lm_eval.utils.make_table = wrap_make_table(lm_eval.utils.make_table)


class _ExpectedGroupWarnings(logging.Filter):
    """Drops lm-eval's "metric missing in some tasks" warning for icma groups only.

    NOTE: our groups aggregate the caption metrics over the mol2caption tasks and the molecule metrics over the
    caption2mol tasks; every metric is absent from the other direction by design, so lm-eval's warning (one per
    metric and protocol) says nothing. Any other group keeps the warning.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Group 'icma") and "is missing in" in message)


def _quiet_expected_group_warnings() -> None:
    group_logger = logging.getLogger(_GROUP_LOGGER)
    if not any(isinstance(f, _ExpectedGroupWarnings) for f in group_logger.filters):
        group_logger.addFilter(_ExpectedGroupWarnings())
