"""The MolT5 evaluation scripts as written (``text_translation_metrics.py``, ``mol_translation_metrics.py``,
``fingerprint_metrics.py``), statement for statement on direct NLTK / rouge_score / RDKit / Levenshtein calls: the
reference every parity test compares ``icma_bench.metrics`` against. Test-only code (the slow, obvious loops)."""

from __future__ import annotations

import csv
import functools

import numpy as np
from conftest import SHARED_DATA
from Levenshtein import distance as lev
from nltk.translate.bleu_score import corpus_bleu
from nltk.translate.meteor_score import meteor_score
from rdkit import Chem, DataStructs, RDLogger
from rdkit.Chem import AllChem, MACCSkeys
from rouge_score import rouge_scorer

RDLogger.DisableLog("rdApp.*")


def read_molt5(path, strip_cls=False):
    """(ground truth, output) pairs of a MolT5 prediction TSV, read as MolT5 reads it."""
    with open(path, encoding="utf8") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        rows = [(row["ground truth"], row["output"] or "") for row in reader]
    if strip_cls:
        rows = [(g, o[6:] if o.startswith("[CLS] ") else o) for g, o in rows]
    return rows


def molt5_caption_reference(pairs, tokenizer=None, max_length=512):
    """MolT5's text_translation_metrics.evaluate, statement for statement (transformers-4 tokenize semantics).

    ``tokenizer``: a transformers tokenizer (default SciBERT uncased from ../shared); ``max_length=None``: no
    truncation, as ICMA's / MolReGPT's ``naive_test.py`` (``tokenize(text)`` with the T5 tokenizer)."""
    from transformers import BertTokenizerFast

    tok = tokenizer or BertTokenizerFast(
        vocab=str(SHARED_DATA / "scibert_scivocab_uncased" / "vocab.txt"), do_lower_case=True
    )

    def tokens(text):
        if max_length is None:
            out = tok.tokenize(text)
        else:
            out = tok.tokenize(text, truncation=True, max_length=max_length, padding="max_length")[
                :max_length
            ]
        return [t for t in out if t not in ("[PAD]", "[CLS]", "[SEP]")]

    refs, hyps, meteors = [], [], []
    for gt, out in pairs:
        gt_tokens, out_tokens = tokens(gt), tokens(out)
        refs.append([gt_tokens])
        hyps.append(out_tokens)
        meteors.append(meteor_score([gt_tokens], out_tokens))
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    rouge = [scorer.score(out, gt) for gt, out in pairs]
    return {
        "bleu2": corpus_bleu(refs, hyps, weights=(0.5, 0.5)),
        "bleu4": corpus_bleu(refs, hyps, weights=(0.25, 0.25, 0.25, 0.25)),
        "rouge1": np.mean([r["rouge1"].fmeasure for r in rouge]),
        "rouge2": np.mean([r["rouge2"].fmeasure for r in rouge]),
        "rougeL": np.mean([r["rougeL"].fmeasure for r in rouge]),
        "meteor": np.mean(meteors),
    }


_RAISED = object()


@functools.cache
def _ground_truth(gt: str):
    """The ground-truth side of each statement below, computed once per string (pure functions of the string: the
    same 3,300 references recur in every released file). ``_RAISED`` stands for a call that raised."""

    def attempt(fn):
        try:
            return fn()
        except Exception:
            return _RAISED

    mol = Chem.MolFromSmiles(gt)
    return {
        "mol": mol,
        "inchi": attempt(lambda: Chem.MolToInchi(Chem.MolFromSmiles(gt))),
        "maccs": attempt(lambda: MACCSkeys.GenMACCSKeys(mol)),
        "rdk": attempt(lambda: Chem.RDKFingerprint(mol)),
        "morgan": attempt(lambda: AllChem.GetMorganFingerprint(mol, 2)),
    }


def _value(x):
    if x is _RAISED:
        raise ValueError("the reference call raised")
    return x


def molt5_molecule_reference(pairs):
    """mol_translation_metrics.evaluate + fingerprint_metrics.evaluate, as written (legacy Morgan call); the
    reference-side calls are memoised per string, the output side is computed as written."""
    bleu = corpus_bleu([[list(gt)] for gt, _ in pairs], [list(out) for _, out in pairs])
    num_exact = 0
    for gt, out in pairs:
        try:
            if Chem.MolToInchi(Chem.MolFromSmiles(out)) == _value(_ground_truth(gt)["inchi"]):
                num_exact += 1
        except Exception:
            pass
    levs = [lev(out, gt) for gt, out in pairs]
    outputs, bad = [], 0
    for gt, out in pairs:
        try:
            ot_m = Chem.MolFromSmiles(out)  # (the reference parse is memoised in _ground_truth)
            if ot_m is None:
                raise ValueError("Bad SMILES")
            outputs.append((gt, ot_m))
        except Exception:
            bad += 1
    maccs = [
        DataStructs.FingerprintSimilarity(
            _value(_ground_truth(g)["maccs"]),
            MACCSkeys.GenMACCSKeys(o),
            metric=DataStructs.TanimotoSimilarity,
        )
        for g, o in outputs
    ]
    rdk = [
        DataStructs.FingerprintSimilarity(
            _value(_ground_truth(g)["rdk"]), Chem.RDKFingerprint(o), metric=DataStructs.TanimotoSimilarity
        )
        for g, o in outputs
    ]
    morgan = [
        DataStructs.TanimotoSimilarity(_value(_ground_truth(g)["morgan"]), AllChem.GetMorganFingerprint(o, 2))
        for g, o in outputs
    ]
    return {
        "bleu": bleu,
        "exact_match": num_exact / len(pairs),
        "levenshtein": np.mean(levs),
        "validity": len(outputs) / (len(outputs) + bad),
        "maccs_fts": np.mean(maccs),
        "rdk_fts": np.mean(rdk),
        "morgan_fts": np.mean(morgan),
    }
