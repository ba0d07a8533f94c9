"""Cross-dataset overlap: which molecules of one split are in another, by PubChem CID and by canonical SMILES.

A model tuned on a split that holds test molecules of another dataset is contaminated for that test set (e.g. 776
ChEBI-20 test CIDs are in PubChem324k train); the board's training-data flag uses this table.

Split files: a MolT5-format TSV (``CID<TAB>SMILES<TAB>description``), any TSV whose header has ``CID`` and
``SMILES`` columns (an optional ``split`` column selects rows with ``NAME@split``), or a list of CIDs, one per line
(CID overlap only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from icma_bench.leaderboard.schema import dump_json_strict
from icma_bench.leaderboard.sources import BoardInputError

logger = logging.getLogger(__name__)


@dataclass
class SplitMolecules:
    name: str
    path: str
    cids: list[str]
    smiles: list[str] | None  # None: a CID list


def read_split_molecules(name: str, spec: str) -> SplitMolecules:
    """``spec``: ``PATH`` or ``PATH@value`` (rows whose ``split`` column equals ``value``)."""
    path_text, _, wanted = spec.partition("@")
    path = Path(path_text)
    try:
        lines = path.read_text(encoding="utf-8").replace("\r\n", "\n").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise BoardInputError(f"{path}: cannot read split file ({exc})") from None
    lines = [line for line in lines if line.strip()]
    header = [c.strip().lower() for c in lines[0].split("\t")] if lines else []
    if "cid" not in header:
        cids = [line.strip() for line in lines]
        if not all(c.isdigit() for c in cids):
            raise BoardInputError(f"{path}: neither a TSV with a CID column nor a list of CIDs")
        return SplitMolecules(name, str(path), cids, None)
    col_cid = header.index("cid")
    col_smiles = header.index("smiles") if "smiles" in header else None
    col_split = header.index("split") if "split" in header else None
    if wanted and col_split is None:
        raise BoardInputError(f"{path}: '@{wanted}' needs a 'split' column")
    cids, smiles = [], []
    for lineno, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) < len(header):
            raise BoardInputError(f"{path}:{lineno}: {len(fields)} fields, the header has {len(header)}")
        if wanted and fields[col_split] != wanted:
            continue
        cids.append(fields[col_cid])
        if col_smiles is not None:
            smiles.append(fields[col_smiles])
    return SplitMolecules(name, str(path), cids, smiles if col_smiles is not None else None)


def _canonical_set(split: SplitMolecules, show_progress: bool) -> set[str]:
    from tqdm.auto import tqdm

    from icma_bench.chem import canonical_smiles

    out = set()
    for s in tqdm(split.smiles or [], desc=f"canonicalising {split.name}", disable=not show_progress):
        # NOTE: ChEBI-20's files double some backslashes (``C\\\\C``); both spellings canonicalise the same way
        # only once undoubled, so the overlap undoubles them first.
        canonical = canonical_smiles(s.replace("\\\\", "\\"))
        if canonical:
            out.add(canonical)
    return out


def compute_overlap(splits: list[SplitMolecules], *, show_progress: bool = False) -> dict:
    """Every ordered pair of splits from different datasets: how many molecules of the first are in the second."""
    canon = {s.name: _canonical_set(s, show_progress) if s.smiles is not None else None for s in splits}
    pairs = []
    for a in splits:
        for b in splits:
            if a.name.split("/")[0] == b.name.split("/")[0]:
                continue  # same dataset: splits are disjoint by construction
            cid_hits = len(set(a.cids) & set(b.cids))
            smiles_hits = (
                len(canon[a.name] & canon[b.name])
                if canon[a.name] is not None and canon[b.name] is not None
                else None
            )
            pairs.append(
                {
                    "split": a.name,
                    "in": b.name,
                    "n": len(set(a.cids)),
                    "by_cid": cid_hits,
                    "by_canonical_smiles": smiles_hits,
                }
            )
    return {
        "splits": [
            {"name": s.name, "molecules": len(set(s.cids)), "has_smiles": s.smiles is not None}
            for s in splits
        ],
        "pairs": pairs,
    }


def contamination(overlap: dict) -> dict[str, dict[str, str]]:
    """``{dataset: {training source: reason}}`` for the training-data flag, from test-split overlaps."""
    out: dict[str, dict[str, str]] = {}
    for pair in overlap["pairs"]:
        dataset, _, split = pair["split"].partition("/")
        other, _, other_split = pair["in"].partition("/")
        if split != "test" or other_split != "train":
            continue
        hits = max(pair["by_cid"], pair["by_canonical_smiles"] or 0)
        if hits:
            out.setdefault(dataset, {})[f"{other}-train"] = (
                f"{other} train holds {pair['by_cid']:,} of the {pair['n']:,} {dataset} test CIDs"
            )
    return out


def render_overlap_markdown(overlap: dict) -> str:
    lines = [
        "# Cross-dataset overlap",
        "",
        "Generated by `icma-bench leaderboard overlap`. Molecules of each split found in the other dataset's splits, "
        "by PubChem CID and by RDKit canonical SMILES. A model tuned on a split that holds test molecules is "
        "contaminated for that test set.",
        "",
        "| split | molecules | found in | by CID | by canonical SMILES |",
        "|---|---|---|---|---|",
    ]
    for p in overlap["pairs"]:
        smiles = "–" if p["by_canonical_smiles"] is None else f"{p['by_canonical_smiles']:,}"
        lines.append(f"| {p['split']} | {p['n']:,} | {p['in']} | {p['by_cid']:,} | {smiles} |")
    return "\n".join(lines) + "\n"


def render_overlap_json(overlap: dict) -> str:
    return dump_json_strict(overlap)
