"""The ``icma-bench`` command. Each sub-command lives in its own module exposing ``register(subparsers)``.

Only the CLI configures logging handlers; library modules just log.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from icma_bench import __version__

# Sub-command modules, in the order ``--help`` lists them.
_COMMANDS = ("score", "retrieve", "graph", "eval", "finetune", "leaderboard", "compare")
# The module that registers each sub-command (``retrieve`` registers ``prompts`` too).
_MODULE_OF = {
    "score": "score",
    "retrieve": "retrieve",
    "prompts": "retrieve",
    "graph": "graph",
    "eval": "eval",
    "finetune": "finetune",
    "leaderboard": "leaderboard",
    "compare": "compare",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command``, only that sub-command's module is imported (a command loads only what it
    needs: ``score`` never imports retrieval)."""
    parser = argparse.ArgumentParser(
        prog="icma-bench",
        description="Molecule <-> text translation benchmark: ICMA prompts, MolT5-exact metrics, lm-eval tasks.",
    )
    parser.add_argument("--version", action="version", version=f"icma-bench {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    modules = (_MODULE_OF[command],) if command in _MODULE_OF else _COMMANDS
    for name in modules:
        importlib.import_module(f"icma_bench.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # `icma-bench eval ...` forwards every argument to lm_eval untouched.
    if argv and argv[0] == "eval":
        from icma_bench.cli.eval import run_passthrough

        return run_passthrough(argv[1:])
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError) as exc:
        # Misuse and missing resources: one clear line, no traceback (use -vv for one).
        if args.verbose >= 2:
            raise
        print(f"icma-bench {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
