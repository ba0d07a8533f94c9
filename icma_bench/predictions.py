"""Prediction files of ``icma-bench score`` and the leaderboard: MolT5 prediction TSVs and JSONL, read as MolT5
reads them.

Formats: MolT5 prediction TSVs (a header, then ``SMILES<TAB>ground truth<TAB>output`` for mol2caption or
``description<TAB>ground truth<TAB>output`` for caption2mol; read as MolT5 reads them, ``csv.QUOTE_NONE``: quotes are
literal characters) and JSONL (``{"prediction": ..., "reference": ...}`` per line). Garbage outputs are data: a
missing output is an empty output, counted; a broken one (a lone surrogate) is repaired to U+FFFD, counted
(encoding_repaired); MolT5's "[CLS] " output prefix is stripped from mol2caption outputs in either format, counted
(cls_prefix_stripped). A malformed file, or a reference that is not valid text, is an error naming the line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from icma_bench.data import find_lone_surrogate

CLS_PREFIX = "[CLS] "  # MolT5's caption script strips it from outputs before scoring


def strip_cls_prefix(output: str, task: str) -> tuple[str, bool]:
    """A mol2caption output without MolT5's ``[CLS] `` prefix, and whether it had one (every reader counts it)."""
    if task == "mol2caption" and output.startswith(CLS_PREFIX):
        return output[len(CLS_PREFIX) :], True
    return output, False


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


def load_jsonl(path: Path, text: str, task: str) -> Pairs:
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
        pos = find_lone_surrogate(row["reference"])
        if pos is not None:
            raise MalformedPredictionsError(
                f'{path}:{lineno}: "reference" holds a lone surrogate U+{ord(row["reference"][pos]):04X} '
                "(not valid Unicode text; fix the reference)"
            )
        # A lone surrogate in a prediction is scored: compute() replaces it by U+FFFD (counted: encoding_repaired).
        pred, stripped = strip_cls_prefix(
            pred, task
        )  # as for TSV files: same pairs, same scores in either format
        pairs.cls_stripped += stripped
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
        out, stripped = strip_cls_prefix(out, task)
        pairs.cls_stripped += stripped
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
        pairs = load_jsonl(p, text, task)
    else:
        pairs = load_tsv(p, text, task)
    if not pairs.predictions:
        raise MalformedPredictionsError(f"{p}: no prediction rows")
    return pairs
