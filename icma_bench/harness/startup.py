"""Start-up hook: make stock ``lm_eval`` see icma-bench's tasks and models with no flags.

lm-eval 0.4.13 has no plugin discovery (tasks load only through ``--include_path`` and models must be registered
before ``simple_evaluate`` builds them). The wheel ships this file twice: here, and as the top-level module
``_icma_bench_startup`` whose :func:`install_watcher` ``icma_bench.pth`` calls at interpreter start-up. It is
stdlib-only and does no work at start-up beyond putting a watcher first on ``sys.meta_path``; only when a program imports ``lm_eval.tasks`` (the
CLI, ``python -m lm_eval``, ``accelerate launch -m lm_eval`` and ``simple_evaluate`` all do) does it call
:func:`icma_bench.harness.discovery.install`, once. Set ``ICMA_BENCH_NO_HOOK=1`` to switch it off.
"""

import os
import sys

DISABLE_ENV = "ICMA_BENCH_NO_HOOK"
WATCHED_MODULE = "lm_eval.tasks"


class _InstallAfterExec:
    """Loader proxy: runs the real loader, then installs icma-bench into the freshly imported lm-eval."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        activate()

    def __getattr__(self, name):  # get_source, get_resource_reader, is_package, ...
        return getattr(self._loader, name)


class LmEvalWatcher:
    """A ``sys.meta_path`` finder that only ever answers for ``lm_eval.tasks`` and removes itself after that."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != WATCHED_MODULE:
            return None
        uninstall_watcher()
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _InstallAfterExec(spec.loader)
        return spec


def activate() -> None:
    """Install icma-bench into lm-eval; a failure warns instead of breaking every lm-eval run."""
    try:
        from icma_bench.harness.discovery import install
    except ImportError:  # the hook outlived the package: nothing to install
        return
    try:
        install()
    except Exception as exc:  # noqa: BLE001 - never break a user's lm-eval for a plugin problem
        import warnings

        warnings.warn(
            f"icma-bench could not register its lm-eval tasks and models ({exc!r}); "
            f"call icma_bench.harness.discovery.install() to see the full error, or set {DISABLE_ENV}=1.",
            RuntimeWarning,
            stacklevel=2,
        )


def install_watcher() -> bool:
    """Put the watcher first on ``sys.meta_path`` (idempotent). False when disabled or lm-eval is already in."""
    if os.environ.get(DISABLE_ENV, "").strip() not in ("", "0"):
        return False
    if WATCHED_MODULE in sys.modules:
        activate()
        return False
    if not any(isinstance(f, LmEvalWatcher) or type(f).__name__ == "LmEvalWatcher" for f in sys.meta_path):
        sys.meta_path.insert(0, LmEvalWatcher())
    return True


def uninstall_watcher() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "LmEvalWatcher"]
