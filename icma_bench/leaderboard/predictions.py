"""Prediction files aligned to their split: every row of a board is scored on the split's documents, in the
split's order, so that two rows on the same documents can be compared pair by pair.

- ``molt5-tsv``: MolT5's prediction TSVs (read exactly as ``icma-bench score`` reads them). NOTE: MolT5's released
  files are *not* in ChEBI-20 test order, and their SMILES lost the doubled backslashes of ChEBI-20's ``test.txt``
  (``C\\\\C`` there, ``C\\C`` in the files); rows are matched to documents by their caption (unique in every split
  here), and scored against the file's own ground truth, as MolT5's scripts score them.
- ``molregpt-tsv``: MolReGPT's ``CID<TAB>molecule2caption<TAB>caption2molecule``, rows in the split's order (matched by
  position, as MolReGPT's scripts match them; CIDs checked); references from the split.
  ``N/A`` cells are missing outputs (scored as empty, counted). Rows with extra fields: the last two fields are the
  outputs (MolReGPT's reader). Stray quotes and trailing dots are scored as released (counted, never stripped:
  stripping changes no published number here — see the README).
- ``jsonl``: ``{"cid": ..., "prediction": ...}`` per line (references from the split), or
  ``{"prediction": ..., "reference": ...}`` (matched to documents by the reference); ``.jsonl.gz`` is read too.
  MolT5's ``[CLS] `` caption prefix is stripped and counted, as ``icma-bench score`` does.

Wrong length, unknown or repeated documents, or a different order from the split is an error naming the file.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

from icma_bench.data import Record
from icma_bench.leaderboard.sources import BoardInputError
from icma_bench.predictions import MalformedPredictionsError, load_pairs, strip_cls_prefix


class PredictionFileError(BoardInputError):
    """A prediction file that does not cover its split's documents one to one; the message names the file."""


@dataclass
class AlignedPredictions:
    cids: list[str]
    predictions: list[str]
    references: list[str]
    counts: dict[str, int] = field(default_factory=dict)


def _key(task: str, record: Record) -> str:
    # The document text that identifies a row: the caption (the reference of mol2caption, the input of caption2mol).
    return record.description


def _order(path: Path, keys: list[str], index: dict[str, int], what: str) -> list[int]:
    if len(keys) != len(index):
        raise PredictionFileError(f"{path}: {len(keys)} rows but the split has {len(index)} documents")
    order, seen = [], set()
    for i, key in enumerate(keys):
        j = index.get(key)
        if j is None:
            raise PredictionFileError(f"{path}: row {i + 1}: its {what} is not a document of the split")
        if j in seen:
            raise PredictionFileError(f"{path}: row {i + 1}: document repeated")
        seen.add(j)
        order.append(j)
    return order


def _read_molt5(path: Path, task: str, records: list[Record]) -> AlignedPredictions:
    try:
        pairs = load_pairs(path, task)
    except MalformedPredictionsError as exc:
        raise PredictionFileError(str(exc)) from None
    text = path.read_text(encoding="utf-8").split("\n")
    header = text[0].split("\t")
    body = [line.split("\t") for line in text[1:] if line != ""]
    by_caption = {r.description: j for j, r in enumerate(records)}
    if task == "mol2caption":
        keys = pairs.references
    else:
        col = 0 if header[0] == "description" else header.index("description")
        keys = [row[col] for row in body]
    order = _order(path, keys, by_caption, "caption")
    n = len(records)
    preds, refs = [""] * n, [""] * n
    for i, j in enumerate(order):
        preds[j], refs[j] = pairs.predictions[i], pairs.references[i]
    counts = {"missing_outputs": pairs.missing_outputs, "blank_rows": pairs.blank_rows}
    if task == "mol2caption":
        counts["cls_prefix_stripped"] = pairs.cls_stripped
    return AlignedPredictions([r.cid for r in records], preds, refs, counts)


def _read_molregpt(path: Path, task: str, records: list[Record]) -> AlignedPredictions:
    lines = path.read_text(encoding="utf-8").replace("\r\n", "\n").split("\n")
    if not lines or lines[0].split("\t")[:1] != ["CID"]:
        raise PredictionFileError(
            f"{path}:1: expected MolReGPT's header CID<TAB>molecule2caption<TAB>caption2molecule"
        )
    rows = [(n, line.strip().split("\t")) for n, line in enumerate(lines[1:], start=2) if line.strip()]
    n = len(records)
    if len(rows) != n:
        raise PredictionFileError(f"{path}: {len(rows)} rows but the split has {n} documents")
    for lineno, fields in rows:
        if len(fields) < 3:
            raise PredictionFileError(f"{path}:{lineno}: expected 3 tab-separated fields, got {len(fields)}")
    # NOTE: MolReGPT scores its files by row position (rows are in test order). Two released files carry a few
    # corrupted CIDs (a lost leading digit, a short shifted run: 10 rows of one_shot_circular_sbert, 11 of
    # one_shot_random_random); rows are matched by position as MolReGPT matched them, and such rows are counted
    # (cid_mismatch_rows). More than 1 % of rows off their document is a different order: an error.
    mismatched = [lineno for (lineno, fields), r in zip(rows, records, strict=True) if fields[0] != r.cid]
    if len(mismatched) > n // 100:
        raise PredictionFileError(
            f"{path}: {len(mismatched)} rows hold another CID than the split's document at their position "
            f"(first at line {mismatched[0]}): not in the split's order"
        )
    order = list(range(n))
    col = -2 if task == "mol2caption" else -1
    preds = [""] * n
    counts = {
        "missing_outputs": 0,
        "extra_fields_rows": 0,
        "cid_mismatch_rows": len(mismatched),
        "stray_quote_outputs": 0,
        "trailing_dot_outputs": 0,
    }
    for (_, fields), j in zip(rows, order, strict=True):
        out = fields[col]
        counts["extra_fields_rows"] += len(fields) > 3
        if out == "N/A":
            counts["missing_outputs"] += 1
            out = ""
        elif task == "caption2mol":
            counts["stray_quote_outputs"] += '"' in out
            counts["trailing_dot_outputs"] += out.endswith(".")
        preds[j] = out
    refs = [r.description if task == "mol2caption" else r.smiles for r in records]
    if task == "mol2caption":
        del counts["stray_quote_outputs"], counts["trailing_dot_outputs"]
    return AlignedPredictions([r.cid for r in records], preds, refs, counts)


def _read_jsonl(path: Path, task: str, records: list[Record]) -> AlignedPredictions:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    rows = []
    for lineno, line in enumerate(raw.decode("utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PredictionFileError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
        pred = row.get("prediction") if isinstance(row, dict) else None
        if not isinstance(row, dict) or not (pred is None or isinstance(pred, str)):
            raise PredictionFileError(f'{path}:{lineno}: expected an object with a string "prediction"')
        if not isinstance(row.get("cid"), str) and not isinstance(row.get("reference"), str):
            raise PredictionFileError(f'{path}:{lineno}: each row names its document ("cid" or "reference")')
        rows.append(row)
    target = [r.description if task == "mol2caption" else r.smiles for r in records]
    if all(isinstance(r.get("cid"), str) for r in rows):
        order = _order(path, [r["cid"] for r in rows], {r.cid: j for j, r in enumerate(records)}, "cid")
    else:
        order = _order(
            path, [r["reference"] for r in rows], {t: j for j, t in enumerate(target)}, "reference"
        )
    n = len(records)
    preds = [""] * n
    counts = {"missing_outputs": 0}
    if task == "mol2caption":
        counts["cls_prefix_stripped"] = 0
    for row, j in zip(rows, order, strict=True):
        counts["missing_outputs"] += row.get("prediction") is None
        preds[j], stripped = strip_cls_prefix(row.get("prediction") or "", task)
        if stripped:
            counts["cls_prefix_stripped"] += 1
    return AlignedPredictions([r.cid for r in records], preds, target, counts)


READERS = {"molt5-tsv": _read_molt5, "molregpt-tsv": _read_molregpt, "jsonl": _read_jsonl}


def read_predictions(path: Path, fmt: str, task: str, records: list[Record]) -> AlignedPredictions:
    """Read ``path`` in ``fmt`` and align it to ``records`` (the split), one output per document, split order."""
    try:
        return READERS[fmt](Path(path), task, records)
    except UnicodeDecodeError as exc:
        raise PredictionFileError(f"{path}: not valid UTF-8 ({exc.reason})") from None
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise PredictionFileError(f"{path}: cannot read ({exc})") from None
