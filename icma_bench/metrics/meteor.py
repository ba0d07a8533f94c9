"""METEOR exactly as NLTK's ``meteor_score`` computes it, without importing NLTK on a warm run.

NLTK's package import alone costs ~2.7 s of a short command. METEOR needs three things from NLTK: its alignment
arithmetic, the Porter stemmer and WordNet synonyms. Here:

- the arithmetic is :func:`meteor_score`, a statement-for-statement mirror of ``nltk.translate.meteor_score``
  (exact, stem and WordNet-synonym matching, chunk count, ``(1 - penalty) * fmean``). It is used only when the
  installed NLTK's ``meteor_score.py`` is the file it mirrors (checked by the file's sha256, read without
  importing NLTK); any other NLTK version runs NLTK's own function instead, so a number never depends on the mirror;
- stems come from a table built with NLTK's own ``PorterStemmer`` for every token of the caption tokenizer's
  vocabulary (METEOR only ever sees vocabulary tokens), cached on disk per NLTK version;
- synonyms come from a table of WordNet lemma names per stem, built with NLTK's WordNet reader, cached on disk per
  WordNet build and NLTK version.

``tests/test_metrics_meteor.py`` pins the mirror to NLTK bitwise on real captions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from icma_bench.files import sha256_texts, write_atomic
from icma_bench.metrics.resources import (
    compute_resource_sha256,
    find_wordnet,
    metrics_cache_dir,
    package_version,
)

logger = logging.getLogger(__name__)

#: sha256 of the ``nltk/translate/meteor_score.py`` this module mirrors (nltk 3.10.4).
MIRRORED_SOURCES = frozenset({"63309e4c94f116ba0e1e7e1f9b81b2d68253c4e44b606d3c6b7c8435f3965115"})


@lru_cache(maxsize=1)
def nltk_meteor_is_mirrored() -> bool:
    """Whether the installed NLTK's METEOR is the code :func:`meteor_score` mirrors (no NLTK import)."""
    spec = importlib.util.find_spec("nltk")
    if spec is None or not spec.submodule_search_locations:
        return False
    source = Path(next(iter(spec.submodule_search_locations))) / "translate" / "meteor_score.py"
    try:
        return hashlib.sha256(source.read_bytes()).hexdigest() in MIRRORED_SOURCES
    except OSError:
        return False


# ----------------------------------------------------------------------------------- the mirror of NLTK's code


def _match_enums(hyp: list[tuple[int, str]], ref: list[tuple[int, str]]):
    word_match = []
    ref_positions = defaultdict(list)
    for j, (_, ref_word) in enumerate(ref):
        ref_positions[ref_word].append(j)
    matched_hyp, matched_ref = set(), set()
    for i in range(len(hyp))[::-1]:
        positions = ref_positions.get(hyp[i][1])
        if positions:
            j = positions.pop()
            matched_hyp.add(i)
            matched_ref.add(j)
            word_match.append((hyp[i][0], ref[j][0]))
    return (
        word_match,
        [pair for i, pair in enumerate(hyp) if i not in matched_hyp],
        [pair for j, pair in enumerate(ref) if j not in matched_ref],
    )


def _synonym_match(
    hyp: list[tuple[int, str]], ref: list[tuple[int, str]], synonyms: Callable[[str], frozenset]
):
    word_match = []
    ref_positions = defaultdict(list)
    for j, (_, ref_word) in enumerate(ref):
        ref_positions[ref_word].append(j)
    matched_hyp, matched_ref = set(), set()
    for i in range(len(hyp))[::-1]:
        hypothesis_syns = synonyms(hyp[i][1]) | {hyp[i][1]}
        best_j, best_word = -1, None
        for syn in hypothesis_syns:
            positions = ref_positions.get(syn)
            if positions and positions[-1] > best_j:
                best_j, best_word = positions[-1], syn
        if best_word is not None:
            ref_positions[best_word].pop()
            matched_hyp.add(i)
            matched_ref.add(best_j)
            word_match.append((hyp[i][0], ref[best_j][0]))
    return (
        word_match,
        [pair for i, pair in enumerate(hyp) if i not in matched_hyp],
        [pair for j, pair in enumerate(ref) if j not in matched_ref],
    )


def _count_chunks(matches: list[tuple[int, int]]) -> int:
    i, chunks = 0, 1
    while i < len(matches) - 1:
        if matches[i + 1][0] == matches[i][0] + 1 and matches[i + 1][1] == matches[i][1] + 1:
            i += 1
            continue
        i += 1
        chunks += 1
    return chunks


def meteor_score(
    reference: Sequence[str],
    hypothesis: Sequence[str],
    stem: Callable[[str], str],
    synonyms: Callable[[str], frozenset],
    alpha: float = 0.9,
    beta: float = 3.0,
    gamma: float = 0.5,
) -> float:
    """NLTK's ``meteor_score([reference], hypothesis)`` (``single_meteor_score``: one reference), with the stemmer
    and the WordNet synonyms (lemma names without ``_``) given as functions."""
    enum_hyp = list(enumerate(map(str.lower, hypothesis)))
    enum_ref = list(enumerate(map(str.lower, reference)))
    translation_length, reference_length = len(enum_hyp), len(enum_ref)
    exact, enum_hyp, enum_ref = _match_enums(enum_hyp, enum_ref)
    stemmed, enum_hyp, enum_ref = _match_enums(
        [(i, stem(w)) for i, w in enum_hyp], [(j, stem(w)) for j, w in enum_ref]
    )
    synonym, _, _ = _synonym_match(enum_hyp, enum_ref, synonyms)
    matches = sorted(exact + stemmed + synonym, key=lambda pair: pair[0])
    matches_count = len(matches)
    try:
        precision = float(matches_count) / translation_length
        recall = float(matches_count) / reference_length
        fmean = (precision * recall) / (alpha * precision + (1 - alpha) * recall)
        chunk_count = float(_count_chunks(matches))
        frag_frac = chunk_count / matches_count
    except ZeroDivisionError:
        return 0.0
    penalty = gamma * frag_frac**beta
    return (1 - penalty) * fmean


# ------------------------------------------------------------------------------- stems and synonyms, on disk


def _read_table(path: Path) -> dict:
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
        return table if isinstance(table, dict) else {}
    except (OSError, ValueError):
        logger.warning("ignoring unreadable cache %s", path)
        return {}


def _write_table(path: Path, table: dict) -> None:
    try:
        write_atomic(path, json.dumps(table, ensure_ascii=False, sort_keys=True))
    except OSError as exc:  # a read-only cache: compute without caching
        logger.warning("could not write the cache %s (%s)", path, exc)


def load_stems(words: Iterable[str]) -> dict[str, str]:
    """NLTK ``PorterStemmer().stem`` of each word, from a disk table per NLTK version (NLTK loads on a miss)."""
    words = set(words)
    path = metrics_cache_dir() / f"porter-stems-nltk-{package_version('nltk')}.json"
    table = _read_table(path) if path.is_file() else {}
    missing = sorted(words.difference(table))
    if missing:
        from nltk.stem.porter import PorterStemmer

        stemmer = PorterStemmer()
        table.update({w: stemmer.stem(w) for w in missing})
        _write_table(path, table)
    return {w: table[w] for w in words}


def load_wordnet_names(words: set[str]) -> dict[str, list[str]]:
    """Lemma names of every synset of each word, from a disk table per WordNet build (WordNet loads only on a miss)."""
    resource = find_wordnet()
    key = sha256_texts([compute_resource_sha256(str(resource)), package_version("nltk")])[:24]
    path = metrics_cache_dir() / f"wordnet-names-{key}.json"
    table = _read_table(path) if path.is_file() else {}
    missing = sorted(set(words).difference(table))
    if missing:
        from nltk.corpus import wordnet

        logger.info("looking up %d words in WordNet (%s)", len(missing), resource)
        for w in missing:
            table[w] = [lemma.name() for synset in wordnet.synsets(w) for lemma in synset.lemmas()]
        _write_table(path, table)
    return {w: table[w] for w in words}


class MemoStemmer:
    """NLTK's ``PorterStemmer`` through the stem table (an object with ``stem``, as NLTK's METEOR expects)."""

    def __init__(self, table: dict[str, str] | None = None) -> None:
        self._table = dict(table or {})

    def stem(self, word: str) -> str:
        try:
            return self._table[word]
        except KeyError:
            out = self._table[word] = load_stems([word])[word]
            return out


class _Lemma:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def name(self) -> str:
        return self._name


class _Synset:
    """All lemma names of a word's synsets as one pseudo-synset: METEOR only takes the union of their names."""

    __slots__ = ("_lemmas",)

    def __init__(self, names: Sequence[str]) -> None:
        self._lemmas = [_Lemma(n) for n in names]

    def lemmas(self) -> list[_Lemma]:
        return self._lemmas


class MemoWordNet:
    """Synonyms from a table of lemma names: ``synsets(word)`` for NLTK's METEOR, ``synonyms(word)`` for ours.

    NLTK keeps only names without "_" and takes their set: filtering and de-duplicating here is the same set. With
    ``vocabulary`` (every word the references can offer), names outside it are dropped too: METEOR only asks whether
    a name is an unmatched reference word, so they could never match and the score is unchanged.
    """

    def __init__(self, names: dict[str, list[str]], vocabulary: set[str] | None = None) -> None:
        self._vocabulary = vocabulary
        self._names = {w: self._kept(n) for w, n in names.items()}
        self._synsets = {w: ((_Synset(sorted(n)),) if n else ()) for w, n in self._names.items()}

    def _kept(self, names: Sequence[str]) -> frozenset[str]:
        vocab = self._vocabulary
        return frozenset(n for n in names if "_" not in n and (vocab is None or n in vocab))

    def synonyms(self, word: str) -> frozenset[str]:
        try:
            return self._names[word]
        except (
            KeyError
        ):  # not pre-computed: ask WordNet itself (never happens through compute_caption_metrics)
            out = self._names[word] = self._kept(load_wordnet_names({word})[word])
            self._synsets[word] = (_Synset(sorted(out)),) if out else ()
            return out

    def synsets(self, word: str) -> tuple[_Synset, ...]:
        self.synonyms(word)
        return self._synsets[word]


def build_meteor(
    stems: dict[str, str], wordnet: MemoWordNet
) -> Callable[[Sequence[str], Sequence[str]], float]:
    """``meteor(reference_tokens, hypothesis_tokens)``: the mirror when it is NLTK's code, else NLTK's own."""
    stemmer = MemoStemmer(stems)
    if nltk_meteor_is_mirrored():
        return lambda ref, hyp: meteor_score(ref, hyp, stemmer.stem, wordnet.synonyms)
    logger.info(
        "nltk %s: METEOR by NLTK's own meteor_score (not the file icma-bench mirrors)",
        package_version("nltk"),
    )
    from nltk.translate.meteor_score import meteor_score as nltk_meteor

    return lambda ref, hyp: nltk_meteor([ref], hyp, stemmer=stemmer, wordnet=wordnet)
