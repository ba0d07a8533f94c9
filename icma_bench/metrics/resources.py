"""Offline-first resources for the metrics: the caption tokenizer (SciBERT uncased WordPiece) and WordNet.

Nothing here downloads unless the machine is online *and* no local copy exists; a missing resource raises
:class:`ResourceNotFoundError` whose message says exactly what to set or download.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from icma_bench.data import OFFLINE_ENVS, cache_dir, write_atomic

logger = logging.getLogger(__name__)

SCIBERT_ENV = "ICMA_BENCH_SCIBERT"
SCIBERT_NAME = "allenai/scibert_scivocab_uncased"
DEFAULT_TOKENIZER = "scibert_scivocab_uncased"


class ResourceNotFoundError(FileNotFoundError):
    """A metric resource (tokenizer vocabulary, WordNet) is missing; the message names the fix."""


@dataclass(frozen=True)
class CaptionTokenizer:
    """A Hugging Face tokenizer plus what identifies it in a result signature."""

    tokenizer: Any
    name: str
    vocab_sha256: str
    config_sha256: str  # the whole tokenizer (normaliser, pre-tokeniser, model): the cache key

    @property
    def signature(self) -> str:
        return f"{self.name}#{self.vocab_sha256[:12]}"


def is_offline() -> bool:
    """True when any of the offline switches (ours, Hugging Face's) is set."""
    names = (*OFFLINE_ENVS, "TRANSFORMERS_OFFLINE")
    return any(os.environ.get(v, "").strip().lower() not in ("", "0", "false", "no") for v in names)


def metrics_cache_dir() -> Path:
    """Where the metric caches live (``<user cache>/metrics``)."""
    return cache_dir() / "metrics"


def compute_vocab_sha256(tokenizer: Any) -> str:
    """A content hash of a tokenizer's vocabulary (token -> id), independent of the transformers version."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: (kv[1], kv[0]))
    return hashlib.sha256(json.dumps(vocab, ensure_ascii=False).encode("utf-8")).hexdigest()


def _bert_from_vocab(vocab_file: Path) -> Any:
    """An uncased WordPiece tokenizer from a vocab.txt; the built Rust tokenizer is cached as JSON (1 s -> 50 ms)."""
    from tokenizers import Tokenizer
    from transformers import BertTokenizerFast

    key = hashlib.sha256(
        vocab_file.read_bytes()
        + f"|{package_version('tokenizers')}|{package_version('transformers')}".encode()
    ).hexdigest()[:24]
    cached = metrics_cache_dir() / f"wordpiece-{key}.json"
    if cached.is_file():
        try:
            return BertTokenizerFast(tokenizer_object=Tokenizer.from_file(str(cached)), do_lower_case=True)
        except Exception:  # a corrupt cache file is rebuilt below
            logger.warning("ignoring unreadable tokenizer cache %s", cached)
    # NOTE: transformers 5 pitfall: `BertTokenizerFast(vocab_file=...)` silently builds a 5-token vocabulary;
    # `vocab=` (a path) loads the real one. do_lower_case=True is SciBERT-uncased's (and BertTokenizerFast's) default.
    tok = BertTokenizerFast(vocab=str(vocab_file), do_lower_case=True)
    write_atomic(cached, tok.backend_tokenizer.to_str())
    return tok


def _from_local_path(path: Path) -> Any:
    if path.is_file():
        return _bert_from_vocab(path)
    if (path / "tokenizer.json").is_file() or (path / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if (path / "vocab.txt").is_file():
        return _bert_from_vocab(path / "vocab.txt")
    raise ResourceNotFoundError(
        f"tokenizer path {path} holds neither vocab.txt nor tokenizer.json/tokenizer_config.json; "
        "pass a WordPiece vocab.txt, a folder holding one, or a saved Hugging Face tokenizer folder"
    )


def _from_hub(name: str) -> Any:
    """Load a tokenizer by Hub name: the local HF cache first, a download only when online."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError) as exc:
        cached_error = exc
    if is_offline():
        raise ResourceNotFoundError(
            f"tokenizer {name!r} is not in the Hugging Face cache and the machine is offline "
            f"({cached_error}). Download it once online (`hf download {name}`), or pass a local path."
        )
    logger.info("downloading tokenizer %s from the Hugging Face Hub", name)
    try:
        return AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise ResourceNotFoundError(f"could not load tokenizer {name!r}: {exc}") from exc


def _scibert_env_path() -> Path | None:
    env = os.environ.get(SCIBERT_ENV, "").strip()
    if not env:
        return None
    path = Path(env).expanduser()
    if path.is_file() or (path / "vocab.txt").is_file():
        return path if path.is_file() else path / "vocab.txt"
    raise ResourceNotFoundError(
        f"${SCIBERT_ENV}={env} holds no vocab.txt. Point it at SciBERT's vocab.txt "
        f"(from https://huggingface.co/{SCIBERT_NAME}) or the folder holding it."
    )


@lru_cache(maxsize=8)
def load_caption_tokenizer(tokenizer: str | None = None) -> CaptionTokenizer:
    """Resolve the caption tokenizer.

    ``None`` -> SciBERT uncased: ``$ICMA_BENCH_SCIBERT`` (a vocab.txt or the folder holding it), then the Hugging
    Face cache (offline), then a download when online. A string is a local path (vocab.txt, a folder with
    vocab.txt, or a saved tokenizer folder) or any Hub tokenizer name (e.g. a T5 tokenizer for the ICMA/MolReGPT
    variant). ``trust_remote_code`` is never enabled.
    """
    if tokenizer is None:
        vocab = _scibert_env_path()
        if vocab is not None:
            tok, name = _bert_from_vocab(vocab), DEFAULT_TOKENIZER
        else:
            try:
                tok, name = _from_hub(SCIBERT_NAME), DEFAULT_TOKENIZER
            except ResourceNotFoundError as exc:
                raise ResourceNotFoundError(
                    f"SciBERT vocabulary not found: ${SCIBERT_ENV} is not set and {SCIBERT_NAME} is not in the "
                    f"Hugging Face cache ({exc}). Fix: set {SCIBERT_ENV} to a folder holding SciBERT's vocab.txt "
                    f"(or the file itself), or download it once online with `hf download {SCIBERT_NAME} vocab.txt`."
                ) from None
    else:
        path = Path(tokenizer).expanduser()
        if path.exists():
            tok, name = _from_local_path(path), path.name if path.is_dir() else path.parent.name or path.name
        else:
            tok, name = _from_hub(tokenizer), tokenizer
    if not getattr(tok, "is_fast", False):
        raise ValueError(
            f"tokenizer {name!r} has no fast (Rust) implementation; icma-bench needs a fast tokenizer"
        )
    if len(tok.get_vocab()) < 100:
        # The transformers-5 pitfall above produces exactly this; never score with it.
        raise ValueError(
            f"tokenizer {name!r} has only {len(tok.get_vocab())} tokens: the vocabulary did not load"
        )
    config = hashlib.sha256(tok.backend_tokenizer.to_str().encode("utf-8")).hexdigest()
    return CaptionTokenizer(
        tokenizer=tok, name=name, vocab_sha256=compute_vocab_sha256(tok), config_sha256=config
    )


def _nltk_data_paths() -> list[str]:
    import nltk.data

    # NLTK reads NLTK_DATA once at import; honour a value set later (tests, the CLI) too.
    for entry in reversed(os.environ.get("NLTK_DATA", "").split(os.pathsep)):
        if entry and entry not in nltk.data.path:
            nltk.data.path.insert(0, entry)
    return list(nltk.data.path)


def find_wordnet() -> Path:
    """Locate WordNet for NLTK (a ``corpora/wordnet.zip`` or ``corpora/wordnet/`` under an NLTK data folder)."""
    import nltk.data

    paths = _nltk_data_paths()
    for resource in ("corpora/wordnet.zip", "corpora/wordnet"):
        try:
            found = nltk.data.find(resource)
        except LookupError:
            continue
        return Path(str(getattr(found, "path", found)))
    raise ResourceNotFoundError(
        "WordNet (needed by METEOR) not found in any NLTK data folder: "
        + ", ".join(paths)
        + ". Fix: set NLTK_DATA to a folder holding corpora/wordnet.zip, or run `python -m nltk.downloader wordnet`."
    )


@lru_cache(maxsize=4)
def compute_resource_sha256(path: str) -> str:
    """A content hash of a file, or of a folder's file names and sizes (cheap and stable)."""
    p = Path(path)
    h = hashlib.sha256()
    if p.is_file():
        with p.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    else:
        for f in sorted(q for q in p.rglob("*") if q.is_file()):
            h.update(f"{f.relative_to(p)}:{f.stat().st_size}\n".encode())
    return h.hexdigest()


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"
