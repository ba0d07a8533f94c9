"""``icma-bench score PRED_FILE --task mol2caption|caption2mol``: score a file of model outputs.

Formats: MolT5 prediction TSVs (a header, then ``SMILES<TAB>ground truth<TAB>output`` for mol2caption or
``description<TAB>ground truth<TAB>output`` for caption2mol; read as MolT5 reads them, ``csv.QUOTE_NONE``: quotes are
literal characters) and JSONL (``{"prediction": ..., "reference": ...}`` per line). Garbage outputs are data: a
missing output is an empty output, counted; a malformed file is an error naming the line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

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

CLS_PREFIX = "[CLS] "  # MolT5's caption script strips it from outputs before scoring


class MalformedPredictionsError(ValueError):
    """A prediction file that cannot be read as TSV or JSONL; the message names file and line."""


@dataclass
class Pairs:
    predictions: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    missing_outputs: int = 0
    cls_stripped: int = 0
    blank_rows: int = 0


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        # Universal newlines, as MolT5's `open(...)` + csv reader see the file.
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MalformedPredictionsError(f"{path}:{line}: not valid UTF-8 ({exc.reason})") from None


def load_jsonl(path: Path, text: str) -> Pairs:
    pairs = Pairs()
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MalformedPredictionsError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("reference"), str):
            raise MalformedPredictionsError(
                f'{path}:{lineno}: expected an object with a string "reference" (and "prediction")'
            )
        pred = row.get("prediction")
        if pred is None:
            pairs.missing_outputs += 1
            pred = ""
        elif not isinstance(pred, str):
            raise MalformedPredictionsError(
                f'{path}:{lineno}: "prediction" is a {type(pred).__name__}, not a string'
            )
        pairs.predictions.append(pred)
        pairs.references.append(row["reference"])
    return pairs


def load_tsv(path: Path, text: str, task: str) -> Pairs:
    lines = text.split("\n")
    header = lines[0].split("\t") if lines else []
    if "ground truth" not in header or "output" not in header:
        expected = "SMILES" if task == "mol2caption" else "description"
        raise MalformedPredictionsError(
            f"{path}:1: expected a MolT5 header '{expected}<TAB>ground truth<TAB>output', got {lines[0][:200]!r}"
            " (or use JSONL lines with prediction/reference)"
        )
    gt_col, out_col = header.index("ground truth"), header.index("output")
    pairs = Pairs()
    body = lines[1:]
    if body and body[-1] == "":
        body = body[:-1]  # the newline that ends the last row
    for lineno, line in enumerate(body, start=2):
        if line == "":
            continue  # csv.DictReader skips empty lines (and only those)
        fields = line.split("\t")
        if not line.strip():
            # NOTE: a row of only tabs or spaces is a row to MolT5's csv reader (empty fields): scored, counted.
            pairs.blank_rows += 1
            fields = fields + [""] * (len(header) - len(fields))
        if len(fields) > len(header):
            raise MalformedPredictionsError(
                f"{path}:{lineno}: {len(fields)} tab-separated fields but the header has {len(header)} "
                "(a tab inside a field? write JSONL instead)"
            )
        if len(fields) <= gt_col:
            raise MalformedPredictionsError(f"{path}:{lineno}: no 'ground truth' field")
        if len(fields) <= out_col:
            pairs.missing_outputs += 1  # counted as an empty output, never dropped
            out = ""
        else:
            out = fields[out_col]
        if task == "mol2caption" and out.startswith(CLS_PREFIX):
            out = out[len(CLS_PREFIX) :]
            pairs.cls_stripped += 1
        pairs.predictions.append(out)
        pairs.references.append(fields[gt_col])
    return pairs


def load_pairs(path: str | Path, task: str) -> Pairs:
    """Read a prediction file (TSV or JSONL, detected by extension or first character)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"prediction file not found: {p}")
    text = _read_text(p)
    first = text.lstrip()[:1]
    if p.suffix in (".jsonl", ".json") or first == "{":
        pairs = load_jsonl(p, text)
    else:
        pairs = load_tsv(p, text, task)
    if not pairs.predictions:
        raise MalformedPredictionsError(f"{p}: no prediction rows")
    return pairs


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


def run(args: argparse.Namespace) -> int:
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
