"""Caption metrics exactly as MolT5's ``evaluation/text_translation_metrics.py`` computes them.

BLEU-2/4: NLTK ``corpus_bleu`` on WordPiece tokens (no smoothing); METEOR: mean of NLTK ``meteor_score`` per pair on
the same tokens; ROUGE-1/2/L: ``rouge_score`` F-measure (no stemmer) on the raw strings, mean over pairs, called as
MolT5 calls it (``scorer.score(output, ground_truth)``).

Speed without changing a single number: texts are tokenised once per unique string in one batched call by the
``tokenizers`` library (reference tokens are cached on disk); METEOR is NLTK's algorithm with stems and WordNet
synonyms from disk tables (:mod:`icma_bench.metrics.meteor`); BLEU's clipped n-gram counts (integers, so exact) are
summed as ``corpus_bleu`` sums them (:mod:`icma_bench.metrics.bleu`); ROUGE is ``rouge_score``'s arithmetic on its
own tokenizer; the per-pair work runs on every core. A warm run imports neither NLTK nor transformers. Parity tests
pin every number to the reference calls.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import LCSseq
from rouge_score import tokenize as rouge_tokenize

from icma_bench.data import check_no_surrogates, repair_lone_surrogates
from icma_bench.files import sha256_texts, write_atomic
from icma_bench.metrics.bleu import MAX_ORDER, compute_corpus_bleu, ngram_matrix
from icma_bench.metrics.meteor import MemoWordNet, build_meteor, load_stems, load_wordnet_names
from icma_bench.metrics.resources import (
    CaptionTokenizer,
    metrics_cache_dir,
    package_version,
)
from icma_bench.metrics.workers import map_chunks

logger = logging.getLogger(__name__)

MAX_LENGTH = 512  # MolT5's --text_trunc_length
_DROPPED = frozenset({"[PAD]", "[CLS]", "[SEP]"})  # MolT5 filters these three strings out of every token list
BLEU_WEIGHTS = ((0.5, 0.5), (0.25, 0.25, 0.25, 0.25))


@dataclass(frozen=True)
class Tokenised:
    tokens: list[list[str]]
    truncated: int  # texts longer than MAX_LENGTH tokens (cut as MolT5 cut them)
    unknown: int  # texts holding at least one [UNK]


def tokenize_captions(
    texts: Sequence[str], tok: CaptionTokenizer, max_length: int | None = MAX_LENGTH
) -> Tokenised:
    """Tokens of each text, as MolT5 gets them (truncated to ``max_length``, [PAD]/[CLS]/[SEP] dropped).

    NOTE: MolT5 calls ``tokenize(text, truncation=True, max_length=512, padding='max_length')``; under transformers 4
    that truncates to 512 tokens. transformers 5's ``tokenize`` ignores those arguments (no truncation), so we
    encode with truncation at 512 and no special tokens, which reproduces MolT5's transformers-4 behaviour on every
    input (identical on all ChEBI-20 captions, which are all < 512 tokens). ``max_length=None``: no truncation (the
    ``icma`` protocol: ``naive_test.py`` calls ``tokenize(text)``).
    """
    unique = list(dict.fromkeys(texts))
    if not unique:
        return Tokenised([], 0, 0)
    backend = tok.backend
    if max_length is None:
        backend.no_truncation()
    else:
        backend.enable_truncation(max_length)
    try:
        encodings = backend.encode_batch(unique, add_special_tokens=False)
    finally:
        backend.no_truncation()
    table: dict[str, list[str]] = {}
    truncated_texts: set[str] = set()
    for text, encoding in zip(unique, encodings, strict=True):
        table[text] = [t for t in encoding.tokens if t not in _DROPPED]
        if encoding.overflowing:
            truncated_texts.add(text)
    unk = tok.unk_token
    tokens = [table[t] for t in texts]
    return Tokenised(
        tokens=tokens,
        truncated=sum(t in truncated_texts for t in texts),
        unknown=sum(unk is not None and unk in toks for toks in tokens),
    )


def _valid_token_cache(data: object, n: int, references_sha: str) -> bool:
    if not isinstance(data, dict) or data.get("references") != references_sha:
        return False
    tokens, truncated, unknown = data.get("tokens"), data.get("truncated"), data.get("unknown")
    return (
        isinstance(tokens, list)
        and len(tokens) == n
        and all(isinstance(t, list) and all(isinstance(w, str) for w in t) for t in tokens)
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= n for c in (truncated, unknown))
    )


def load_reference_tokens(
    references: Sequence[str], tok: CaptionTokenizer, max_length: int | None = MAX_LENGTH
) -> Tokenised:
    """:func:`tokenize_captions` for a reference set, cached on disk (JSON) by tokenizer and content hash.

    The file ``tokens-<key>-<sha>.json`` carries the sha256 of its own bytes in its name: a file whose content does
    not match (edited, truncated) or whose structure does not fit the references is reported, removed when
    possible, and rebuilt, never trusted. An unwritable cache folder means computing without caching."""
    key = sha256_texts([tok.config_sha256, str(max_length), package_version("tokenizers"), *references])[:24]
    folder = metrics_cache_dir()
    references_sha = sha256_texts(references)
    for path in sorted(folder.glob(f"tokens-{key}-*.json")):
        try:
            payload = path.read_bytes()
            if path.stem.rsplit("-", 1)[-1] != hashlib.sha256(payload).hexdigest()[:16]:
                raise ValueError("content does not match the hash in its name")
            data = json.loads(payload.decode("utf-8"))
            if not _valid_token_cache(data, len(references), references_sha):
                raise ValueError("it does not belong to these references")
            return Tokenised(data["tokens"], data["truncated"], data["unknown"])
        except (OSError, ValueError) as exc:
            logger.warning("ignoring token cache %s (%s); rebuilding", path, exc)
            with contextlib.suppress(OSError):
                path.unlink()
    out = tokenize_captions(references, tok, max_length)
    body = json.dumps(
        {
            "references": references_sha,
            "tokens": out.tokens,
            "truncated": out.truncated,
            "unknown": out.unknown,
        },
        ensure_ascii=False,
    ).encode("utf-8")
    path = folder / f"tokens-{key}-{hashlib.sha256(body).hexdigest()[:16]}.json"
    try:
        write_atomic(path, body)
    except OSError as exc:  # a read-only or full cache: the numbers are computed all the same
        logger.warning("could not write the token cache %s (%s); continuing without it", path, exc)
    return out


# --- per-pair work ----------------------------------------------------------------------------------------------

_STATE: dict = {}  # set by compute_caption_metrics before the pool forks


def _pair_scores(indices: Sequence[int]) -> list[tuple]:
    refs, hyps = _STATE["ref_tokens"], _STATE["hyp_tokens"]
    rref, rhyp = _STATE["ref_rouge"], _STATE["hyp_rouge"]
    meteor_of = _STATE["meteor"]
    out = []
    for i in indices:
        ref, hyp = refs[i], hyps[i]
        meteor = meteor_of(ref, hyp)
        bleu = [_clipped_counts(ref, hyp, n) for n in range(1, MAX_ORDER + 1)]
        # MolT5: scorer.score(out, gt) -> the output is rouge_score's "target", the ground truth its "prediction".
        target, prediction = rhyp[i], rref[i]
        r1 = _rouge_n(target, prediction, 1)
        r2 = _rouge_n(target, prediction, 2)
        rl = _rouge_lcs(target, prediction)
        out.append((meteor, r1, r2, rl, bleu, len(hyp), len(ref)))
    return out


def _ngram_counts(tokens: Sequence[str], n: int) -> Counter:
    """The n-gram multiset of a token list (what ``nltk.util.ngrams`` / ``rouge_score._create_ngrams`` count)."""
    return Counter(zip(*(tokens[i:] for i in range(n)), strict=False)) if len(tokens) >= n else Counter()


def _clipped_counts(ref: Sequence[str], hyp: Sequence[str], n: int) -> tuple[int, int]:
    """NLTK ``modified_precision([ref], hyp, n)`` as (numerator, denominator) integers (one reference)."""
    counts = _ngram_counts(hyp, n)
    ref_counts = _ngram_counts(ref, n)
    numerator = sum(min(c, ref_counts[g]) for g, c in counts.items())
    return numerator, max(1, sum(counts.values()))


def _fmeasure(precision: float, recall: float) -> float:
    """``rouge_score.scoring.fmeasure``."""
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def _rouge_n(target: list[str], prediction: list[str], n: int) -> float:
    """``rouge_score.rouge_scorer._score_ngrams(...).fmeasure`` on the same n-gram counts, statement for statement
    (``rouge_scorer`` itself imports NLTK; the parity tests compare with it directly)."""
    target_ngrams, prediction_ngrams = _ngram_counts(target, n), _ngram_counts(prediction, n)
    intersection = 0
    for ngram in target_ngrams:
        intersection += min(target_ngrams[ngram], prediction_ngrams[ngram])
    precision = intersection / max(sum(prediction_ngrams.values()), 1)
    recall = intersection / max(sum(target_ngrams.values()), 1)
    return _fmeasure(precision, recall)


def _rouge_lcs(target: list[str], prediction: list[str]) -> float:
    """``rouge_score._score_lcs`` F-measure with the LCS length from rapidfuzz (same integer, C speed)."""
    if not target or not prediction:
        return 0
    lcs = LCSseq.similarity(target, prediction)
    return _fmeasure(lcs / len(prediction), lcs / len(target))


def compute_caption_metrics(
    predictions: Sequence[str],
    references: Sequence[str],
    tok: CaptionTokenizer,
    *,
    max_length: int | None = MAX_LENGTH,
    n_jobs: int = 1,
    show_progress: bool = False,
    per_item: bool = False,
) -> tuple[dict[str, float], dict[str, int], dict[str, list[float]]]:
    """BLEU-2/4, ROUGE-1/2/L and METEOR over a corpus, plus counts (empty outputs, truncations, [UNK]s) and, with
    ``per_item``, each document's own scores (sentence BLEU from the same clipped counts: no work is done twice)."""
    n = len(predictions)
    check_no_surrogates(references, "references")
    predictions, repaired = repair_lone_surrogates(predictions)  # the tokenizer cannot take a lone surrogate
    hyp = tokenize_captions(predictions, tok, max_length)
    ref = load_reference_tokens(references, tok, max_length)
    # METEOR lowercases (str.lower) before stemming; it only ever sees vocabulary tokens, so the stems of the whole
    # (lowercased) vocabulary are one cached table, and so are WordNet's lemma names of those stems (NLTK looks up
    # the *stems* of the hypothesis words the exact and stem stages left unmatched).
    hyp_vocab = {w.lower() for toks in hyp.tokens for w in toks}
    ref_vocab = {w.lower() for toks in ref.tokens for w in toks}
    vocabulary = {w.lower() for w in tok.backend.get_vocab(with_added_tokens=True)}
    stems = load_stems(vocabulary | hyp_vocab | ref_vocab)
    names = load_wordnet_names(set(stems.values()))
    wordnet = MemoWordNet(
        {stems[w]: names[stems[w]] for w in hyp_vocab}, vocabulary={stems[w] for w in ref_vocab}
    )
    # rouge_score's default tokenizer (RougeScorer(use_stemmer=False)): rouge_score.tokenize.tokenize(text, None).
    rouge_table = {t: rouge_tokenize.tokenize(t, None) for t in dict.fromkeys((*predictions, *references))}
    _STATE.update(
        ref_tokens=ref.tokens,
        hyp_tokens=hyp.tokens,
        ref_rouge=[rouge_table[t] for t in references],
        hyp_rouge=[rouge_table[t] for t in predictions],
        meteor=build_meteor(stems, wordnet),
    )
    try:
        rows = map_chunks(
            _pair_scores, range(n), n_jobs=n_jobs, desc="caption metrics", show_progress=show_progress
        )
    finally:
        _STATE.clear()
    if n:
        meteor, r1, r2, rl, counts, hyp_lens, ref_lens = zip(*rows, strict=False)
        bleu2, bleu4 = compute_corpus_bleu(counts, hyp_lens, ref_lens, BLEU_WEIGHTS)
        scores = {
            "bleu2": bleu2,
            "bleu4": bleu4,
            "rouge1": float(np.mean(r1)),
            "rouge2": float(np.mean(r2)),
            "rougeL": float(np.mean(rl)),
            "meteor": float(np.mean(meteor)),
        }
    else:
        scores = dict.fromkeys(("bleu2", "bleu4", "rouge1", "rouge2", "rougeL", "meteor"), math.nan)
    items: dict[str, list[float]] = {}
    if per_item and n:
        sentence = [
            compute_corpus_bleu([c], [h], [r], BLEU_WEIGHTS)
            for c, h, r in zip(counts, hyp_lens, ref_lens, strict=True)
        ]
        items = {
            "bleu2": [b[0] for b in sentence],
            "bleu4": [b[1] for b in sentence],
            "rouge1": [float(x) for x in r1],
            "rouge2": [float(x) for x in r2],
            "rougeL": [float(x) for x in rl],
            "meteor": [float(x) for x in meteor],
            # The bootstrap's sufficient statistics for corpus BLEU (moved to MetricResult.ngrams by compute).
            "_bleu_ngrams": ngram_matrix(counts, hyp_lens, ref_lens),
        }
    counts_out = {
        "n": n,
        "empty": sum(not p.strip() for p in predictions),
        "truncated": hyp.truncated,
        "truncated_references": ref.truncated,
        "unknown_token_outputs": hyp.unknown,
        "encoding_repaired": repaired,
    }
    return scores, counts_out, items
