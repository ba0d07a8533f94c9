"""Molecule metrics as MolT5's ``mol_translation_metrics.py`` and ``fingerprint_metrics.py`` compute them.

Features (parse, InChI, MACCS, RDK, Morgan) come from :mod:`icma_bench.metrics.features`, one RDKit pass per
distinct SMILES, references cached; here Tanimoto similarities are vectorised over packed bits, and the protocols
(``molt5``, ``icma``, ``strict``) turn them into scores.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
from Levenshtein import distance as levenshtein

from icma_bench.chem import DEFAULT_LIMITS, MoleculeLimits
from icma_bench.data import check_no_surrogates, repair_lone_surrogates
from icma_bench.metrics.bleu import MAX_ORDER, compute_corpus_bleu, ngram_matrix
from icma_bench.metrics.features import build_features, load_reference_features

logger = logging.getLogger(__name__)


def compute_bit_tanimoto(a: np.ndarray, b: np.ndarray, empty_similarity: float = 0.0) -> np.ndarray:
    """Row-wise Tanimoto of packed bit rows, as RDKit's ``TanimotoSimilarity``; two empty rows score
    ``empty_similarity`` (RDKit >= 2025.09: 0.0; every earlier RDKit, and so the literature: 1.0)."""
    common = np.bitwise_count(a & b).sum(axis=1, dtype=np.int64)
    union = np.bitwise_count(a).sum(axis=1, dtype=np.int64) + np.bitwise_count(b).sum(axis=1, dtype=np.int64)
    denom = (union - common).astype(np.float64)
    out = np.full(len(a), float(empty_similarity), dtype=np.float64)
    np.divide(common.astype(np.float64), denom, out=out, where=denom != 0)
    return out


def compute_count_tanimoto(a: dict[int, int], b: dict[int, int]) -> float:
    """RDKit's ``TanimotoSimilarity`` of two sparse count vectors: sum(min) / (sum a + sum b - sum(min)).

    Two empty count vectors score 0.0 in every RDKit version (``TverskySimilarity``'s ``denom < 1e-6`` branch,
    checked on rdkit 2025.03 and 2026.09), so no convention applies here."""
    if len(a) > len(b):
        a, b = b, a
    common = sum(min(v, b[k]) for k, v in a.items() if k in b)
    denom = float(sum(a.values()) + sum(b.values()) - common)
    return 0.0 if abs(denom) < 1e-6 else common / denom


def _char_clipped_counts(ref: str, hyp: str, n: int) -> tuple[int, int]:
    """``text._clipped_counts(list(ref), list(hyp), n)`` on raw strings: a character n-gram is the substring of
    length n, so counting substrings gives the same integers ~5x faster than counting tuples of characters."""
    hyp_counts = Counter([hyp[i : i + n] for i in range(len(hyp) - n + 1)])
    ref_counts = Counter([ref[i : i + n] for i in range(len(ref) - n + 1)])
    numerator = sum(min(c, ref_counts[g]) for g, c in hyp_counts.items() if g in ref_counts)
    return numerator, max(1, len(hyp) - n + 1)


def compute_char_bleu_counts(refs: Sequence[str], hyps: Sequence[str]) -> tuple[list, list[int], list[int]]:
    """Per-pair clipped n-gram counts (orders 1-4) over characters of the raw strings."""
    counts = [
        [_char_clipped_counts(r, h, n) for n in range(1, MAX_ORDER + 1)]
        for r, h in zip(refs, hyps, strict=False)
    ]
    return counts, [len(h) for h in hyps], [len(r) for r in refs]


def _odd_characters(predictions: Sequence[str]) -> np.ndarray:
    """Outputs holding a character no SMILES can hold (anything but printable ASCII: control and format characters
    such as NUL or U+202E, U+FFFD, any non-ASCII letter) once surrounding spaces/newlines are stripped. RDKit skips
    some of them (``"\\u202eOCC"``, ``"CCO\\x00"``, ``"C\\u20ac"`` parse as molecules); under ``strict`` such
    an output is invalid. NOTE: ``molt5``/``icma`` keep MolT5's scripts' behaviour (RDKit alone decides)."""
    return np.array([any(not "!" <= c <= "~" for c in p.strip(" \t\r\n")) for p in predictions], dtype=bool)


def compute_molecule_metrics(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    protocols: Sequence[str] = ("molt5",),
    empty_similarity: dict[str, float] | None = None,
    n_jobs: int = 1,
    show_progress: bool = False,
    per_item: bool = False,
    limits: MoleculeLimits = DEFAULT_LIMITS,
) -> tuple[dict[str, tuple[dict[str, float], dict[str, int]]], dict[str, dict[str, list]]]:
    """Molecule metrics per protocol (``molt5``, ``icma``, ``strict``) from one featurisation:
    ``({protocol: (scores, counts)}, {protocol: per-document values})`` (the latter only with ``per_item``).

    ``empty_similarity``: Tanimoto of two empty bit fingerprints (MACCS, RDK) per protocol; default 0.0.
    ``icma`` scores molecules exactly as ``molt5`` (ICMA's and MolReGPT's scripts are MolT5's).
    ``limits``: the per-molecule bound on RDKit work; an output over it is counted ``too_complex`` and scored as an
    unparsable one under every protocol (a reference over it as an unparsable reference).
    """
    empty_similarity = empty_similarity or {}
    n = len(predictions)
    check_no_surrogates(references, "references")
    predictions, repaired = repair_lone_surrogates(predictions)  # RDKit cannot take a lone surrogate
    ref = load_reference_features(references, n_jobs=n_jobs, show_progress=show_progress, limits=limits)
    # An output's InChI can only equal its reference's when the heavy-atom compositions agree, or when the
    # reference's InChI is "" (RDKit gave none: MolT5 then counts any output with no InChI as a match).
    inchi_for = [
        None if b == "" else frozenset() if b is None else frozenset([h])
        for b, h in zip(ref.inchi, ref.heavy, strict=True)
    ]
    pred = build_features(
        predictions,
        inchi_for=inchi_for,
        n_jobs=n_jobs,
        show_progress=show_progress,
        known=(references, ref),
        limits=limits,
    )
    counts, hyp_lens, ref_lens = compute_char_bleu_counts(references, predictions)
    # MolT5's default corpus_bleu weights (.25, .25, .25, .25) over characters of the raw strings.
    (bleu,) = (
        compute_corpus_bleu(counts, hyp_lens, ref_lens, [(0.25, 0.25, 0.25, 0.25)]) if n else (math.nan,)
    )
    lev_each = np.array(
        [levenshtein(p, r) for p, r in zip(predictions, references, strict=True)], dtype=np.float64
    )
    lev = float(np.mean(lev_each)) if n else math.nan
    morgan = np.array(
        [compute_count_tanimoto(a, b) for a, b in zip(pred.morgan, ref.morgan, strict=False)],
        dtype=np.float64,
    )
    whitespace = np.array([any(c.isspace() for c in p.strip()) for p in predictions], dtype=bool)
    empty = np.array([not p.strip() for p in predictions], dtype=bool)
    base_counts = {
        "n": n,
        "empty": int(empty.sum()),
        "unparsable": int((~pred.parsed).sum()),
        "oversized": int(pred.oversized.sum()),
        # NOTE: too_complex outputs (over the per-molecule bound) have n_atoms -1: unparsable under every protocol.
        "too_complex": int(pred.too_complex.sum()),
        "parsed_no_atoms": int((pred.n_atoms == 0).sum()),
        "invalid_references": int((ref.n_atoms <= 0).sum()),
        "too_complex_references": int(ref.too_complex.sum()),
        "encoding_repaired": repaired,
    }
    out, items, sentence = {}, {}, {}
    for protocol in protocols:
        fill = float(empty_similarity.get(protocol, 0.0))
        maccs = compute_bit_tanimoto(pred.maccs, ref.maccs, fill)
        rdk = compute_bit_tanimoto(pred.rdk, ref.rdk, fill)
        if protocol == "strict":
            # strict: an empty string, a zero-atom parse, or text with inner whitespace (RDKit reads what follows a
            # space as a molecule name) is invalid, and every invalid pair scores 0 over all n pairs.
            valid = pred.parsed & (pred.n_atoms > 0) & ~whitespace & ~_odd_characters(predictions)
            scored = valid & (ref.n_atoms > 0)
            exact = np.array(
                [
                    bool(s) and bool(a) and a == b
                    for s, a, b in zip(scored, pred.inchi, ref.inchi, strict=True)
                ],
                dtype=bool,
            )
            per_pair = {
                name: np.where(scored, sims, 0.0)
                for name, sims in (("maccs_fts", maccs), ("rdk_fts", rdk), ("morgan_fts", morgan))
            }
            sims_mean = {name: float(np.mean(v)) if n else math.nan for name, v in per_pair.items()}
        else:
            # MolT5's fingerprint script averages over outputs RDKit parses; it would crash on an unparsable
            # reference. NOTE: we leave such pairs out of the similarity means instead (counted in
            # `invalid_references`); MolT5's exact match compares InChIs of both parses, "" == "" included.
            valid = pred.parsed
            scored = valid & ref.parsed
            exact = np.array(
                [
                    a is not None and b is not None and a == b
                    for a, b in zip(pred.inchi, ref.inchi, strict=True)
                ],
                dtype=bool,
            )
            per_pair = {
                name: np.where(scored, sims, np.nan)
                for name, sims in (("maccs_fts", maccs), ("rdk_fts", rdk), ("morgan_fts", morgan))
            }
            sims_mean = {
                name: float(np.mean(sims[scored])) if scored.any() else math.nan
                for name, sims in (("maccs_fts", maccs), ("rdk_fts", rdk), ("morgan_fts", morgan))
            }
        scores = {
            "bleu": bleu,
            "exact_match": float(np.mean(exact)) if n else math.nan,
            "levenshtein": lev,
            "validity": float(np.mean(valid)) if n else math.nan,
            **sims_mean,
        }
        proto_counts = {**base_counts, "valid": int(valid.sum()), "invalid": int(n - valid.sum())}
        proto_counts["exact"] = int(exact.sum())
        proto_counts["scored_pairs"] = int(scored.sum())
        out[protocol] = (scores, proto_counts)
        if per_item:
            if "bleu" not in sentence:
                sentence["bleu"] = [
                    compute_corpus_bleu([c], [h], [r], [(0.25, 0.25, 0.25, 0.25)])[0]
                    for c, h, r in zip(counts, hyp_lens, ref_lens, strict=True)
                ]
            items[protocol] = {
                "bleu": sentence["bleu"],
                "validity": [bool(v) for v in valid],
                "exact_match": [bool(v) for v in exact],
                "levenshtein": [int(v) for v in lev_each],
                "_bleu_ngrams": ngram_matrix(counts, hyp_lens, ref_lens),
                **{name: [None if math.isnan(x) else float(x) for x in v] for name, v in per_pair.items()},
            }
    return out, items
