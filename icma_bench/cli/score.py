"""``icma-bench score PRED_FILE --task mol2caption|caption2mol``: score a file of model outputs.

Formats (read by :mod:`icma_bench.predictions`): MolT5 prediction TSVs (a header, then ``SMILES<TAB>ground truth<TAB>output`` for mol2caption or
``description<TAB>ground truth<TAB>output`` for caption2mol; read as MolT5 reads them, ``csv.QUOTE_NONE``: quotes are
literal characters) and JSONL (``{"prediction": ..., "reference": ...}`` per line). Garbage outputs are data: a
missing output is an empty output, counted; a broken one (a lone surrogate) is repaired to U+FFFD, counted
(encoding_repaired); MolT5's "[CLS] " output prefix is stripped from mol2caption outputs in either format, counted
(cls_prefix_stripped). A malformed file, or a reference that is not valid text, is an error naming the line.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys

from icma_bench.chem import DEFAULT_LIMITS
from icma_bench.metrics import (
    CAPTION_METRICS,
    LOWER_IS_BETTER,
    MOLECULE_METRICS,
    TASKS,
    MetricResult,
    compute,
    parse_protocols,
)
from icma_bench.predictions import load_pairs


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"


_BASE_NAMES = frozenset((*CAPTION_METRICS, *MOLECULE_METRICS, "fcd"))


def render_table(result: MetricResult, path: str) -> str:
    """A plain-text table: one row per metric, one column per protocol, then counts and the signature."""
    protocols = result.protocols
    names = [k for k in result.scores if result.key(k, protocols[0]) == k and k in _BASE_NAMES]
    lines = [f"{path}  ({result.task}, n={result.counts.get('n')})", ""]
    lines.append(f"{'metric':<14}" + "".join(f"{p:>12}" for p in protocols))
    for name in names:
        vals = [result.scores.get(result.key(name, p)) for p in protocols]
        arrow = " (lower is better)" if name in LOWER_IS_BETTER else ""
        lines.append(f"{name:<14}" + "".join(f"{_fmt(v):>12}" for v in vals) + arrow)
    lines += ["", "counts: " + ", ".join(f"{k}={v}" for k, v in result.counts.items())]
    lines.append("signature: " + result.signature_string)
    return "\n".join(lines)


def _check_fcd(task: str) -> None:
    """``--fcd`` is checked before any work: a missing extra must not surface after every other metric ran."""
    if task != "caption2mol":
        raise ValueError("--fcd applies to --task caption2mol only (FCD compares molecules)")
    if importlib.util.find_spec("fcd") is None:
        raise ValueError(
            "--fcd needs the optional `fcd` package: pip install 'icma-bench[fcd]' "
            "(in a checkout: pip install -e '.[fcd]')"
        )


def run(args: argparse.Namespace) -> int:
    if args.fcd:
        _check_fcd(args.task)
    pairs = load_pairs(args.pred_file, args.task)
    result = compute(
        args.task,
        pairs.predictions,
        pairs.references,
        protocol=args.protocol,
        tokenizer=args.tokenizer,
        n_jobs=args.n_jobs,
        fcd=args.fcd,
        show_progress=args.progress,
        molecule_time_limit=args.molecule_time_limit,
        molecule_memory_limit=args.molecule_memory_limit,
    )
    result.counts["missing_outputs"] = pairs.missing_outputs
    result.counts["blank_rows"] = pairs.blank_rows
    if args.task == "mol2caption":
        result.counts["cls_prefix_stripped"] = pairs.cls_stripped
    if args.json:
        payload = {"file": str(args.pred_file), **result.to_dict()}
        sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    else:
        sys.stdout.write(render_table(result, str(args.pred_file)) + "\n")
    return 0


def _protocol_arg(value: str) -> str:
    try:
        return "+".join(parse_protocols(value))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(kind):
    def parse(value: str):
        try:
            number = kind(value)
        except ValueError:
            number = None
        if number is None or not number > 0 or number != number or number == float("inf"):
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {value!r}")
        return number

    return parse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        help="score a prediction file (MolT5 TSV or JSONL) with MolT5-exact metrics",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "pred_file", metavar="PRED_FILE", help="MolT5-format TSV or JSONL of prediction/reference pairs"
    )
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument(
        "--protocol",
        default="molt5",
        type=_protocol_arg,
        help="molt5 (MolT5's scripts, default), icma (ICMA/MolReGPT: T5 caption tokenizer), strict; "
        "several joined by '+', 'both' (molt5+strict) or 'all'",
    )
    p.add_argument(
        "--json", action="store_true", help="print JSON (scores, counts, signature) instead of a table"
    )
    p.add_argument(
        "--tokenizer",
        default=None,
        help="caption tokenizer: HF name or local path (default: SciBERT uncased via $ICMA_BENCH_SCIBERT or HF cache)",
    )
    p.add_argument(
        "--n-jobs", type=int, default=None, help="worker processes (default: all cores for big inputs)"
    )
    p.add_argument("--fcd", action="store_true", help="also compute FCD (caption2mol; needs icma-bench[fcd])")
    p.add_argument("--progress", action="store_true", help="show progress bars")
    p.add_argument(
        "--molecule-time-limit",
        type=_positive(float),
        default=DEFAULT_LIMITS.seconds,
        metavar="SECONDS",
        help="caption2mol: wall time per molecule that fails the cheap complexity screen; one over it is counted "
        f"too_complex and scored as unparsable (default {DEFAULT_LIMITS.seconds:g})",
    )
    p.add_argument(
        "--molecule-memory-limit",
        type=_positive(int),
        default=DEFAULT_LIMITS.memory_mib,
        metavar="MIB",
        help=f"caption2mol: memory per such molecule, in MiB (default {DEFAULT_LIMITS.memory_mib})",
    )
    p.set_defaults(func=run)
