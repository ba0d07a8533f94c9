"""The literature's fingerprint convention, measured: MolT5's molecule scripts under an old RDKit vs icma-bench.

Every published ChEBI-20 number was computed with RDKit < 2025.09, where two empty bit fingerprints have Tanimoto
1.0. This script runs MolT5's ``mol_translation_metrics.py`` + ``fingerprint_metrics.py`` logic, statement for
statement, on the 8 released MolT5 caption2smiles files, in whatever environment runs it, and dumps per-row values
(it imports only RDKit, NLTK, Levenshtein and numpy, so it runs in a scratch venv with an old RDKit). ``compare``
then scores the same files with icma-bench's default ``molt5`` protocol (RDKit >= 2025.09, literature convention)
and lists every number and every row that differs.

    # scratch environment with the old RDKit (once):
    python -m venv /tmp/rdk2503 && /tmp/rdk2503/bin/pip install rdkit==2025.3.6 nltk==3.10.4 levenshtein numpy
    /tmp/rdk2503/bin/python benchmarks/rdkit_versions.py dump --out benchmarks/out/rdkit-2025.03.json
    python benchmarks/rdkit_versions.py dump --out benchmarks/out/rdkit-current.json
    python benchmarks/rdkit_versions.py compare benchmarks/out/rdkit-2025.03.json
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "released_outputs" / "molt5"


def _files() -> list[Path]:
    return sorted(SHARED.glob("*caption2smiles*.txt"))


def _pairs(path: Path) -> list[tuple[str, str]]:
    with open(path, encoding="utf8") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(row["ground truth"], row["output"] or "") for row in reader]


def dump(out: Path) -> None:
    import numpy as np
    from Levenshtein import distance
    from nltk.translate.bleu_score import corpus_bleu
    from rdkit import Chem, DataStructs, RDLogger, rdBase
    from rdkit.Chem import AllChem, MACCSkeys

    RDLogger.DisableLog("rdApp.*")
    report = {"rdkit": rdBase.rdkitVersion, "files": {}}
    for path in _files():
        pairs = _pairs(path)
        rows = []
        for gt, ot in pairs:
            row = {"valid": False, "exact": False}
            with contextlib.suppress(Exception):
                row["exact"] = Chem.MolToInchi(Chem.MolFromSmiles(ot)) == Chem.MolToInchi(
                    Chem.MolFromSmiles(gt)
                )
            try:
                g, o = Chem.MolFromSmiles(gt), Chem.MolFromSmiles(ot)
                if o is None:
                    raise ValueError("bad SMILES")
                row["valid"] = True
                row["maccs"] = DataStructs.FingerprintSimilarity(
                    MACCSkeys.GenMACCSKeys(g),
                    MACCSkeys.GenMACCSKeys(o),
                    metric=DataStructs.TanimotoSimilarity,
                )
                row["rdk"] = DataStructs.FingerprintSimilarity(
                    Chem.RDKFingerprint(g), Chem.RDKFingerprint(o), metric=DataStructs.TanimotoSimilarity
                )
                row["morgan"] = DataStructs.TanimotoSimilarity(
                    AllChem.GetMorganFingerprint(g, 2), AllChem.GetMorganFingerprint(o, 2)
                )
            except Exception:
                row["valid"] = False
            rows.append(row)
        valid = [r for r in rows if r["valid"]]
        report["files"][path.name] = {
            "scores": {
                "bleu": corpus_bleu([[list(g)] for g, _ in pairs], [list(o) for _, o in pairs]),
                "exact_match": sum(r["exact"] for r in rows) / len(rows),
                "levenshtein": float(np.mean([distance(o, g) for g, o in pairs])),
                "validity": len(valid) / len(rows),
                "maccs_fts": float(np.mean([r["maccs"] for r in valid])),
                "rdk_fts": float(np.mean([r["rdk"] for r in valid])),
                "morgan_fts": float(np.mean([r["morgan"] for r in valid])),
            },
            "rows": rows,
        }
        print(path.name, report["files"][path.name]["scores"], file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report))


def compare(old: Path) -> None:
    from icma_bench.metrics import compute

    ref = json.loads(old.read_text())
    print(f"MolT5 scripts on rdkit {ref['rdkit']} vs icma-bench molt5 protocol (default convention) here\n")
    print("| file | metric | scripts | icma-bench | difference |")
    print("|---|---|---:|---:|---:|")
    notes = []
    for path in _files():
        pairs = _pairs(path)
        old_file = ref["files"][path.name]
        ours = compute("caption2mol", [o for _, o in pairs], [g for g, _ in pairs], per_item=True)
        for metric, value in old_file["scores"].items():
            mine = ours.scores[metric]
            if mine != value:
                print(f"| {path.name} | {metric} | {value:.6f} | {mine:.6f} | {mine - value:+.2e} |")
        items = ours.items["molt5"]
        for i, row in enumerate(old_file["rows"]):
            diffs = []
            if row["valid"] != items["validity"][i]:
                diffs.append(f"validity {row['valid']} -> {items['validity'][i]}")
            if row["exact"] != items["exact_match"][i]:
                diffs.append(f"exact {row['exact']} -> {items['exact_match'][i]}")
            for name in ("maccs", "rdk", "morgan"):
                new = items[f"{name}_fts"][i]
                if row["valid"] and new is not None and row[name] != new:
                    diffs.append(f"{name} {row[name]:.4f} -> {new:.4f}")
            if diffs:
                notes.append(
                    f"- {path.name} row {i + 2}: `{pairs[i][1][:80]}` (reference `{pairs[i][0][:60]}`): "
                    + "; ".join(diffs)
                )
    print("\nRows that differ:\n" + ("\n".join(notes) if notes else "none"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("compare")
    c.add_argument("old", type=Path)
    args = parser.parse_args()
    dump(args.out) if args.cmd == "dump" else compare(args.old)


if __name__ == "__main__":
    main()
