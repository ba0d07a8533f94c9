"""``icma-bench leaderboard build|check|verify|overlap``: publish boards, check submissions and published boards.

- ``build INPUTS... --out DIR``: lm-eval results (+ samples), prediction manifests and reported manifests -> board
  folder (board.json, README.md, board.csv, index.html, plots/).
- ``check SUBMISSION...``: re-score a submission; exit 1 on any mismatch.
- ``verify DIR``: is a published board folder up to date with its inputs? exit 1 if not.
- ``overlap --split NAME=PATH ... --out DIR``: the cross-dataset overlap table (by CID and canonical SMILES).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _data_arg(value: str) -> tuple[str, Path]:
    dataset, sep, path = value.partition("=")
    if not sep or not dataset or not path:
        raise argparse.ArgumentTypeError(f"expected DATASET=PATH (e.g. chebi20=data/chebi20), got {value!r}")
    return dataset, Path(path)


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


def _run_build(args: argparse.Namespace) -> int:
    from icma_bench.leaderboard.bootstrap import BootstrapConfig
    from icma_bench.leaderboard.publish import BuildOptions, build

    options = BuildOptions(
        released=args.released,
        data_paths=dict(args.data or []),
        overlap=args.overlap,
        bootstrap=BootstrapConfig(resamples=args.resamples, seed=args.seed),
        plots=not args.no_plots,
        use_cache=not args.no_cache,
        show_progress=args.progress,
    )
    written = build(args.inputs, args.out, options)
    for dataset, files in written.items():
        print(f"{dataset}: {len(files)} files under {files[0].parent}")
    return 0


def _run_check(args: argparse.Namespace) -> int:
    from icma_bench.leaderboard.check import check_submission

    report = check_submission(args.submission, data_paths=dict(args.data or []), released=args.released)
    for line in report.checked:
        print(f"checked: {line}")
    for line in report.problems:
        print(f"MISMATCH: {line}", file=sys.stderr)
    if report.problems:
        return 1
    print(f"ok: {len(report.checked)} run(s) re-score to their stated numbers")
    return 0


def _run_verify(args: argparse.Namespace) -> int:
    from icma_bench.leaderboard.publish import check_published

    problems = []
    for folder in args.boards:
        problems += check_published(folder, released=args.released)
    for line in problems:
        print(f"OUT OF DATE: {line}", file=sys.stderr)
    if problems:
        return 1
    print(f"ok: {len(args.boards)} board folder(s) up to date")
    return 0


def _run_overlap(args: argparse.Namespace) -> int:
    from icma_bench.files import write_atomic
    from icma_bench.leaderboard.overlap import (
        compute_overlap,
        read_split_molecules,
        render_overlap_json,
        render_overlap_markdown,
    )

    splits = [read_split_molecules(name, spec) for name, spec in args.split]
    overlap = compute_overlap(splits, show_progress=args.progress)
    write_atomic(args.out / "overlap.json", render_overlap_json(overlap))
    write_atomic(args.out / "overlap.md", render_overlap_markdown(overlap))
    print(render_overlap_markdown(overlap))
    return 0


def _split_arg(value: str) -> tuple[str, str]:
    name, sep, spec = value.partition("=")
    if not sep or "/" not in name:
        raise argparse.ArgumentTypeError(f"expected DATASET/SPLIT=PATH[@split-column-value], got {value!r}")
    return name, spec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="build, check and verify leaderboards", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    lsub = p.add_subparsers(dest="leaderboard_command", metavar="ACTION")
    lsub.required = True
    released = {"type": Path, "default": None, "help": "the released-outputs folder ($RELEASED in manifests)"}
    data = {
        "type": _data_arg,
        "action": "append",
        "metavar": "DATASET=PATH",
        "help": "where a dataset's split files are (default: $ICMA_BENCH_DATA, the cache, or a verified download)",
    }

    b = lsub.add_parser("build", help="build board folders from inputs")
    b.add_argument("inputs", nargs="+", type=Path, metavar="INPUTS", help="files or folders of board inputs")
    b.add_argument("--out", required=True, type=Path, help="board folder (one per dataset: DIR/<dataset>/)")
    b.add_argument("--released", **released)
    b.add_argument("--data", **data)
    b.add_argument("--overlap", type=Path, default=None, help="overlap.json (from `leaderboard overlap`)")
    b.add_argument("--resamples", type=_positive, default=1000, help="bootstrap resamples (default 1000)")
    b.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    b.add_argument("--no-plots", action="store_true", help="skip the PNG/SVG plots")
    b.add_argument("--no-cache", action="store_true", help="re-score every run (ignore the board cache)")
    b.add_argument("--progress", action="store_true", help="show progress bars")
    b.set_defaults(func=_run_build)

    c = lsub.add_parser("check", help="re-score a submission; exit 1 on a mismatch")
    c.add_argument("submission", nargs="+", type=Path, help="results_*.json (+ samples) or a manifest")
    c.add_argument("--released", **released)
    c.add_argument("--data", **data)
    c.set_defaults(func=_run_check)

    v = lsub.add_parser("verify", help="check that published board folders are up to date with their inputs")
    v.add_argument("boards", nargs="+", type=Path, help="board folders (holding board.json)")
    v.add_argument("--released", **released)
    v.set_defaults(func=_run_verify)

    o = lsub.add_parser("overlap", help="cross-dataset overlap table by CID and canonical SMILES")
    o.add_argument("--split", type=_split_arg, action="append", required=True, metavar="DATASET/SPLIT=PATH",
                   help="a split's molecules: MolT5 TSV, a TSV with CID/SMILES columns (PATH@value selects rows "
                   "by its split column), or a CID list")  # fmt: skip
    o.add_argument("--out", required=True, type=Path, help="folder for overlap.json and overlap.md")
    o.add_argument("--progress", action="store_true", help="show progress bars")
    o.set_defaults(func=_run_overlap)
