"""MolT5's evaluation scripts as a user runs them: one prediction file in, the numbers out, one process.

A straightforward, faithful stand-alone of ``evaluation/text_translation_metrics.py`` (SciBERT tokenizer from
transformers, per-pair NLTK METEOR, NLTK corpus BLEU, rouge_score) and of ``mol_translation_metrics.py`` +
``fingerprint_metrics.py`` (per-pair RDKit parse, InChI, MACCS / RDK / legacy Morgan, Levenshtein, char BLEU): the
"MolT5-style loop" that ``bench_score.py`` times icma-bench against, whole process.

    python benchmarks/molt5_scripts.py FILE --task mol2caption|caption2mol [--vocab PATH_TO_SCIBERT_VOCAB]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json


def captions(path: str, vocab: str) -> dict[str, float]:
    import numpy as np
    from nltk.translate.bleu_score import corpus_bleu
    from nltk.translate.meteor_score import meteor_score
    from rouge_score import rouge_scorer
    from transformers import BertTokenizerFast

    tok = BertTokenizerFast(vocab=vocab, do_lower_case=True)
    with open(path, encoding="utf8") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        outputs = [(row["ground truth"], row["output"].removeprefix("[CLS] ")) for row in reader]
    refs, hyps, meteors = [], [], []
    for gt, out in outputs:
        gt_tokens = [
            t
            for t in tok.tokenize(gt, truncation=True, max_length=512)[:512]
            if t not in ("[PAD]", "[CLS]", "[SEP]")
        ]
        out_tokens = [
            t
            for t in tok.tokenize(out, truncation=True, max_length=512)[:512]
            if t not in ("[PAD]", "[CLS]", "[SEP]")
        ]
        refs.append([gt_tokens])
        hyps.append(out_tokens)
        meteors.append(meteor_score([gt_tokens], out_tokens))
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    rouge = [scorer.score(out, gt) for gt, out in outputs]
    return {
        "bleu2": corpus_bleu(refs, hyps, weights=(0.5, 0.5)),
        "bleu4": corpus_bleu(refs, hyps, weights=(0.25, 0.25, 0.25, 0.25)),
        "rouge1": float(np.mean([r["rouge1"].fmeasure for r in rouge])),
        "rouge2": float(np.mean([r["rouge2"].fmeasure for r in rouge])),
        "rougeL": float(np.mean([r["rougeL"].fmeasure for r in rouge])),
        "meteor": float(np.mean(meteors)),
    }


def molecules(path: str) -> dict[str, float]:
    import numpy as np
    from Levenshtein import distance
    from nltk.translate.bleu_score import corpus_bleu
    from rdkit import Chem, DataStructs, RDLogger
    from rdkit.Chem import AllChem, MACCSkeys

    RDLogger.DisableLog("rdApp.*")
    with open(path, encoding="utf8") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        pairs = [(row["ground truth"], row["output"] or "") for row in reader]
    bleu = corpus_bleu([[list(gt)] for gt, _ in pairs], [list(out) for _, out in pairs])
    exact = 0
    for gt, out in pairs:
        with contextlib.suppress(Exception):
            exact += Chem.MolToInchi(Chem.MolFromSmiles(out)) == Chem.MolToInchi(Chem.MolFromSmiles(gt))
    maccs, rdk, morgan, bad = [], [], [], 0
    for gt, out in pairs:
        try:
            g, o = Chem.MolFromSmiles(gt), Chem.MolFromSmiles(out)
            if o is None:
                raise ValueError("bad SMILES")
            maccs.append(
                DataStructs.FingerprintSimilarity(
                    MACCSkeys.GenMACCSKeys(g),
                    MACCSkeys.GenMACCSKeys(o),
                    metric=DataStructs.TanimotoSimilarity,
                )
            )
            rdk.append(
                DataStructs.FingerprintSimilarity(
                    Chem.RDKFingerprint(g), Chem.RDKFingerprint(o), metric=DataStructs.TanimotoSimilarity
                )
            )
            morgan.append(
                DataStructs.TanimotoSimilarity(
                    AllChem.GetMorganFingerprint(g, 2), AllChem.GetMorganFingerprint(o, 2)
                )
            )
        except Exception:
            bad += 1
    return {
        "bleu": bleu,
        "exact_match": exact / len(pairs),
        "levenshtein": float(np.mean([distance(out, gt) for gt, out in pairs])),
        "validity": len(maccs) / (len(maccs) + bad),
        "maccs_fts": float(np.mean(maccs)),
        "rdk_fts": float(np.mean(rdk)),
        "morgan_fts": float(np.mean(morgan)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("file")
    parser.add_argument("--task", required=True, choices=("mol2caption", "caption2mol"))
    parser.add_argument("--vocab", default="../shared/data/scibert_scivocab_uncased/vocab.txt")
    args = parser.parse_args()
    out = captions(args.file, args.vocab) if args.task == "mol2caption" else molecules(args.file)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
