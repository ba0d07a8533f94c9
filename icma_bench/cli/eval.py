"""``icma-bench eval``: lm-eval's own CLI with icma-bench's tasks and baseline models installed.

Every argument goes to lm-eval untouched (``icma-bench eval --model hf --model_args pretrained=... --tasks icma``), so
the wrapper works where the start-up hook does not (a source checkout on ``PYTHONPATH``, ``ICMA_BENCH_NO_HOOK=1``).
``icma-bench eval --help`` prints lm-eval's help.
"""

from __future__ import annotations

import argparse
import os
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="run lm-eval with icma-bench's tasks and models (same arguments as lm_eval)",
        description="Runs lm-eval's CLI with icma-bench installed; every argument is passed to lm_eval unchanged.",
        add_help=False,
    )
    parser.add_argument("lm_eval_args", nargs=argparse.REMAINDER, help="arguments for lm_eval")
    parser.set_defaults(func=lambda args: run_passthrough(args.lm_eval_args))


def run_passthrough(argv: list[str]) -> int:
    """Run ``lm_eval <argv>`` in this process after :func:`icma_bench.harness.discovery.install`; its exit code."""
    from icma_bench.harness.discovery import install

    install()
    from lm_eval.__main__ import cli_evaluate

    from icma_bench.data import DataNotFoundError, MalformedDataError
    from icma_bench.harness.options import TaskOptionError
    from icma_bench.metrics import ResourceNotFoundError

    saved = sys.argv
    sys.argv = ["lm_eval", *argv]  # lm-eval's HarnessCLI reads sys.argv itself
    try:
        cli_evaluate()
    except (TaskOptionError, DataNotFoundError, MalformedDataError, ResourceNotFoundError) as exc:
        # One line naming the fix, exit 2, like every other sub-command (ICMA_BENCH_TRACEBACK=1 for the traceback).
        if os.environ.get("ICMA_BENCH_TRACEBACK", "").strip() not in ("", "0"):
            raise
        print(f"icma-bench eval: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help, argparse errors
        code = exc.code
        if isinstance(code, str):
            print(code, file=sys.stderr)
            return 1
        return 0 if code is None else int(code)
    finally:
        sys.argv = saved
    return 0
