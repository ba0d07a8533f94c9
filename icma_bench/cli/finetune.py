"""``icma-bench finetune RECIPE [key=value ...]``: In-Context Molecule Tuning from one YAML recipe.

RECIPE is a YAML file or the name of a shipped recipe (``icma-bench finetune --list``). ``key=value`` pairs override
recipe keys (values parsed as YAML). ``--dry-run`` validates and prints the resolved config and the LoRA targets
without loading any weights.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "finetune",
        help="In-Context Molecule Tuning (LoRA or full) of any Hugging Face model from a YAML recipe",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "recipe", nargs="?", help="recipe YAML path or shipped recipe name (e.g. galactica-125m)"
    )
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override recipe keys")
    parser.add_argument("--dry-run", action="store_true", help="validate and print the plan; load no weights")
    parser.add_argument("--list", action="store_true", help="list the shipped recipes and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from icma_bench.finetune.config import dump_config, load_config, shipped_recipes

    if args.list:
        for name, path in shipped_recipes().items():
            print(f"{name}\t{path}")
        return 0
    if not args.recipe:
        raise ValueError("a recipe is required: icma-bench finetune RECIPE.yaml [key=value ...] (see --list)")
    cfg = load_config(args.recipe, list(args.overrides))
    if args.dry_run:
        from icma_bench.finetune.recipe import describe_run

        info = describe_run(cfg)
        sys.stdout.write(dump_config(cfg))
        plan = {k: v for k, v in info.items() if k != "config"}
        print("# plan: " + json.dumps(plan))
        return 0
    from icma_bench.finetune.card import lm_eval_command
    from icma_bench.finetune.recipe import run_finetune

    try:
        out = run_finetune(cfg)
    except OSError as exc:  # a model or tokenizer that cannot be found or read: one line, as every CLI error
        if isinstance(exc, FileNotFoundError):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot load {cfg.model!r}: {first}") from exc
    print(out)
    print(f"evaluate: {lm_eval_command(cfg, out)}", file=sys.stderr)
    return 0
