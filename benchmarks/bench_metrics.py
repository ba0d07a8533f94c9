"""Metric engine vs a straightforward MolT5-script loop on the full ChEBI-20 test set (3,300 pairs, both tasks).

Stand-in predictions: the validation split's captions / SMILES (row i of validation against row i of test).
Each contender runs in its own fresh process (so neither inherits the other's loaded WordNet or warm caches);
wall times include loading the tokenizer and WordNet, i.e. what a user waits for.

- reference: MolT5's evaluation scripts as written: per-pair SciBERT tokenize, per-pair METEOR, corpus_bleu,
  per-pair rouge_score; per-pair RDKit parse / InChI / MACCS / RDK / legacy Morgan, Levenshtein, char BLEU.
- ours (cold): ``icma_bench.metrics.compute`` with an empty cache folder (builds every cache).
- ours (warm): the cache folder first warmed by scoring *other* outputs (train_partial rows) against the same test
  set, as when a second model is scored; then the validation outputs are timed.

    python benchmarks/bench_metrics.py [--data ../shared/data] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
N = 3300


def load_inputs(data: Path) -> dict[str, list[str]]:
    def rows(path: Path) -> list[list[str]]:
        with path.open(encoding="utf-8") as fh:
            return [r for r in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)][1:]

    test = rows(data / "chebi20" / "molt5" / "test.txt")
    val = rows(data / "chebi20" / "molt5" / "validation.txt")[:N]
    train = rows(data / "chebi20" / "train_partial.tsv")
    warm = [train[i % len(train)] for i in range(N)]
    return {
        "ref_smiles": [r[1] for r in test],
        "ref_captions": [r[2] for r in test],
        "pred_smiles": [r[1] for r in val],
        "pred_captions": [r[2] for r in val],
        "warm_smiles": [r[1] for r in warm],
        "warm_captions": [r[2] for r in warm],
    }


def run_reference(inp: dict[str, list[str]], data: Path) -> dict[str, float]:
    import numpy as np
    from Levenshtein import distance as lev
    from nltk.translate.bleu_score import corpus_bleu
    from nltk.translate.meteor_score import meteor_score
    from rdkit import Chem, DataStructs, RDLogger
    from rdkit.Chem import AllChem, MACCSkeys
    from rouge_score import rouge_scorer
    from transformers import BertTokenizerFast

    RDLogger.DisableLog("rdApp.*")
    out: dict[str, float] = {}
    # --- text_translation_metrics.py
    tok = BertTokenizerFast(vocab=str(data / "scibert_scivocab_uncased" / "vocab.txt"), do_lower_case=True)
    references, hypotheses, meteors = [], [], []
    for gt, o in zip(inp["ref_captions"], inp["pred_captions"], strict=True):
        gt_tokens = tok.tokenize(gt, truncation=True, max_length=512, padding="max_length")
        gt_tokens = [t for t in gt_tokens if t not in ("[PAD]", "[CLS]", "[SEP]")]
        out_tokens = tok.tokenize(o, truncation=True, max_length=512, padding="max_length")
        out_tokens = [t for t in out_tokens if t not in ("[PAD]", "[CLS]", "[SEP]")]
        references.append([gt_tokens])
        hypotheses.append(out_tokens)
        meteors.append(meteor_score([gt_tokens], out_tokens))
    out["bleu2"] = corpus_bleu(references, hypotheses, weights=(0.5, 0.5))
    out["bleu4"] = corpus_bleu(references, hypotheses, weights=(0.25, 0.25, 0.25, 0.25))
    out["meteor"] = float(np.mean(meteors))
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    rs = [scorer.score(o, gt) for gt, o in zip(inp["ref_captions"], inp["pred_captions"], strict=True)]
    for k in ("rouge1", "rouge2", "rougeL"):
        out[k] = float(np.mean([r[k].fmeasure for r in rs]))
    # --- mol_translation_metrics.py
    pairs = list(zip(inp["ref_smiles"], inp["pred_smiles"], strict=True))
    out["bleu"] = corpus_bleu([[list(gt)] for gt, _ in pairs], [list(o) for _, o in pairs])
    num_exact, levs = 0, []
    for gt, o in pairs:
        try:
            if Chem.MolToInchi(Chem.MolFromSmiles(o)) == Chem.MolToInchi(Chem.MolFromSmiles(gt)):
                num_exact += 1
        except Exception:
            pass
        levs.append(lev(o, gt))
    out["exact_match"] = num_exact / len(pairs)
    out["levenshtein"] = float(np.mean(levs))
    # --- fingerprint_metrics.py
    mols, bad = [], 0
    for gt, o in pairs:
        try:
            gt_m, ot_m = Chem.MolFromSmiles(gt), Chem.MolFromSmiles(o)
            if ot_m is None:
                raise ValueError("Bad SMILES")
            mols.append((gt_m, ot_m))
        except Exception:
            bad += 1
    out["validity"] = len(mols) / (len(mols) + bad)
    maccs, rdk, morgan = [], [], []
    for g, m in mols:
        maccs.append(
            DataStructs.FingerprintSimilarity(
                MACCSkeys.GenMACCSKeys(g), MACCSkeys.GenMACCSKeys(m), metric=DataStructs.TanimotoSimilarity
            )
        )
        rdk.append(
            DataStructs.FingerprintSimilarity(
                Chem.RDKFingerprint(g), Chem.RDKFingerprint(m), metric=DataStructs.TanimotoSimilarity
            )
        )
        morgan.append(
            DataStructs.TanimotoSimilarity(
                AllChem.GetMorganFingerprint(g, 2), AllChem.GetMorganFingerprint(m, 2)
            )
        )
    out["maccs_fts"], out["rdk_fts"], out["morgan_fts"] = (float(np.mean(x)) for x in (maccs, rdk, morgan))
    return out


def run_ours(inp: dict[str, list[str]], warm: bool) -> dict[str, float]:
    from icma_bench.metrics import compute

    if warm:
        compute("mol2caption", inp["warm_captions"], inp["ref_captions"])
        compute("caption2mol", inp["warm_smiles"], inp["ref_smiles"])
    start = time.perf_counter()
    cap = compute("mol2caption", inp["pred_captions"], inp["ref_captions"])
    mol = compute("caption2mol", inp["pred_smiles"], inp["ref_smiles"])
    return {**cap.scores, **mol.scores, "_seconds": time.perf_counter() - start}


def run_part(part: str, data: Path) -> None:
    os.environ.setdefault("NLTK_DATA", str(data / "nltk_data"))
    os.environ.setdefault("ICMA_BENCH_SCIBERT", str(data / "scibert_scivocab_uncased"))
    inp = load_inputs(data)
    start = time.perf_counter()
    if part == "reference":
        scores = run_reference(inp, data)
        scores["_seconds"] = time.perf_counter() - start
    else:
        scores = run_ours(inp, warm=part == "ours-warm")
    print(json.dumps(scores))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--part", choices=("reference", "ours-cold", "ours-warm"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    data = args.data.resolve()
    if args.part:
        run_part(args.part, data)
        return 0
    results = {}
    for part in ("reference", "ours-cold", "ours-warm"):
        with tempfile.TemporaryDirectory(prefix="icma_bench_metrics_") as cache:
            env = {**os.environ, "ICMA_BENCH_CACHE": cache, "ICMA_BENCH_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
            proc = subprocess.run(
                [sys.executable, __file__, "--part", part, "--data", str(data)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
        results[part] = json.loads(proc.stdout.strip().splitlines()[-1])
    ref = results["reference"]
    names = [k for k in ref if not k.startswith("_")]
    worst = max(abs(results[p][k] - ref[k]) for p in ("ours-cold", "ours-warm") for k in names)
    print(f"{'metric':<12}{'reference':>22}{'ours (cold)':>22}{'ours (warm)':>22}")
    for k in names:
        print(f"{k:<12}{ref[k]:>22.17g}{results['ours-cold'][k]:>22.17g}{results['ours-warm'][k]:>22.17g}")
    print(f"max |ours - reference| = {worst:.3g}")
    t_ref = ref["_seconds"]
    for p in ("ours-cold", "ours-warm"):
        t = results[p]["_seconds"]
        print(f"{p:<10} {t:7.2f} s   reference {t_ref:7.2f} s   speed-up {t_ref / t:5.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "max_abs_diff": worst}, indent=2))
    return 0 if worst <= 1e-12 else 1


if __name__ == "__main__":
    raise SystemExit(main())
