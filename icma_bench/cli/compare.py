"""``icma-bench compare``: the scaling comparison in one command.

Runs the icma tasks for every model (a YAML list, ``--models``, and/or ``--model`` options) through lm-eval's own
API, skipping models whose results already exist, then builds the board and its score-vs-size plots from all of
them::

    icma-bench compare --models galactica_vs_mistral.yaml --output results/ --board board/

``--model NAME=BACKEND,MODEL_ARGS`` adds one model without a file, e.g.
``--model galactica-125m=hf,pretrained=facebook/galactica-125m`` (parameter count from the results file).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from icma_bench.cli.leaderboard import _data_arg, _positive


def _model_arg(value: str) -> dict:
    name, sep, rest = value.partition("=")
    backend, _, model_args = rest.partition(",")
    if not sep or not name or not backend:
        raise argparse.ArgumentTypeError(f"expected NAME=BACKEND[,MODEL_ARGS], got {value!r}")
    return {"name": name, "backend": backend, "model_args": model_args}


def _metadata_arg(value: str) -> dict:
    try:
        doc = json.loads(value)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"--metadata is a JSON object: {exc.msg}") from None
    if not isinstance(doc, dict):
        raise argparse.ArgumentTypeError("--metadata is a JSON object")
    return doc


def run(args: argparse.Namespace) -> int:
    from icma_bench.harness.compare import (
        CompareSpec,
        CompareSpecError,
        load_compare_spec,
        parse_model,
        run_models,
    )
    from icma_bench.leaderboard.bootstrap import BootstrapConfig
    from icma_bench.leaderboard.publish import BuildOptions, build

    spec = load_compare_spec(args.models) if args.models else CompareSpec(models=[])
    spec.models += [parse_model(m, f"--model {m['name']}") for m in args.model or []]
    if not spec.models:
        raise CompareSpecError("no models: pass --models FILE.yaml and/or --model NAME=BACKEND,MODEL_ARGS")
    if len({m.name for m in spec.models}) != len(spec.models):
        raise CompareSpecError("two models share a name")
    if args.tasks:
        spec.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if args.limit is not None:
        spec.limit = args.limit
    spec.metadata.update(args.metadata or {})
    folders = run_models(spec, args.output, force=args.force)
    options = BuildOptions(
        data_paths=dict(args.data or []),
        bootstrap=BootstrapConfig(resamples=args.resamples),
        plots=not args.no_plots,
        show_progress=args.progress,
    )
    written = build(folders, args.board, options)
    for dataset, files in written.items():
        print(f"{dataset}: board with {len(files)} files under {files[0].parent}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="evaluate several models with lm-eval and build their board and scaling plots",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--models", type=Path, default=None, help="YAML: models (name, backend, model_args, params...)"
    )
    p.add_argument("--model", type=_model_arg, action="append", metavar="NAME=BACKEND,MODEL_ARGS")
    p.add_argument(
        "--tasks", default=None, help="comma-separated tasks or groups (default: the YAML's, or icma_chebi20)"
    )
    p.add_argument(
        "--limit", type=_positive, default=None, help="evaluate the first N documents of each task"
    )
    p.add_argument(
        "--metadata", type=_metadata_arg, default=None, help="task options as JSON (as lm_eval --metadata)"
    )
    p.add_argument("--output", required=True, type=Path, help="results folder (one sub-folder per model)")
    p.add_argument("--board", required=True, type=Path, help="board folder to build")
    p.add_argument("--data", type=_data_arg, action="append", metavar="DATASET=PATH", help="dataset folders")
    p.add_argument("--force", action="store_true", help="re-run models whose results exist")
    p.add_argument("--resamples", type=_positive, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG/SVG plots")
    p.add_argument("--progress", action="store_true", help="show progress bars")
    p.set_defaults(func=run)
