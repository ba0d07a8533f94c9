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
import inspect
import logging
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
        + ". Fix: reinstall icma-bench (`pip install icma-bench` or `pip install -e .` in a checkout)."
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
        original(self, **arguments)

    __init__.__icma_bench__ = True
    cls.__init__ = __init__


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
