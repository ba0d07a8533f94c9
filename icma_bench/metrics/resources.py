"""Offline-first resources for the metrics: the caption tokenizer (SciBERT uncased WordPiece) and WordNet.

Nothing here downloads unless the machine is online *and* no local copy exists; a missing resource raises
:class:`ResourceNotFoundError` whose message says exactly what to set or download.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from icma_bench.data import OFFLINE_ENVS, cache_dir
from icma_bench.files import write_atomic

logger = logging.getLogger(__name__)

SCIBERT_ENV = "ICMA_BENCH_SCIBERT"
SCIBERT_NAME = "allenai/scibert_scivocab_uncased"
DEFAULT_TOKENIZER = "scibert_scivocab_uncased"
ICMA_T5_ENV = "ICMA_BENCH_T5_TOKENIZER"
ICMA_T5_NAME = "laituan245/molt5-base-smiles2caption"
ICMA_T5_LABEL = "molt5-base-smiles2caption"


class ResourceNotFoundError(FileNotFoundError):
    """A metric resource (tokenizer vocabulary, WordNet) is missing; the message names the fix."""


@dataclass(frozen=True)
class CaptionTokenizer:
    """A caption tokenizer: the Rust ``tokenizers.Tokenizer`` that does the work, plus what identifies it.

    Only the ``tokenizers`` library is needed to tokenise: a tokenizer loaded through transformers is reduced to its
    backend, and the backend is cached as JSON (content-verified), so a warm run never imports transformers.
    """

    backend: Any  # tokenizers.Tokenizer
    name: str
    vocab_sha256: str
    config_sha256: str  # the whole tokenizer (normaliser, pre-tokeniser, model): the cache key
    unk_token: str | None

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


def compute_vocab_sha256(backend: Any) -> str:
    """A content hash of a tokenizer's vocabulary (token -> id), independent of the transformers version."""
    vocab = sorted(backend.get_vocab(with_added_tokens=True).items(), key=lambda kv: (kv[1], kv[0]))
    return hashlib.sha256(json.dumps(vocab, ensure_ascii=False).encode("utf-8")).hexdigest()


def _files_sha256(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _load_cached_backend(key: str, build: Any) -> Any:
    """The backend JSON cached under ``tokenizer-<key>-<sha>.json`` (its own sha256 in the name, checked on read);
    ``build()`` (which may import transformers) runs only on a miss or a damaged file."""
    from tokenizers import Tokenizer

    folder = metrics_cache_dir()
    for cached in sorted(folder.glob(f"tokenizer-{key}-*.json")):
        try:
            payload = cached.read_bytes()
        except OSError as exc:  # unreadable (permissions): rebuild, as for a damaged file
            logger.warning("ignoring unreadable tokenizer cache %s (%s)", cached, exc)
            continue
        if cached.stem.rsplit("-", 1)[-1] == hashlib.sha256(payload).hexdigest()[:16]:
            return Tokenizer.from_str(payload.decode("utf-8"))
        logger.warning("ignoring damaged tokenizer cache %s (content does not match its hash)", cached)
    backend = build()
    payload = backend.to_str()
    digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]
    try:
        write_atomic(folder / f"tokenizer-{key}-{digest}.json", payload)
    except OSError as exc:  # a read-only cache: compute without caching
        logger.warning("could not write the tokenizer cache in %s (%s)", folder, exc)
    return backend


def _bert_from_vocab(vocab_file: Path) -> Any:
    """An uncased WordPiece tokenizer from a vocab.txt (as ``BertTokenizerFast(vocab=..., do_lower_case=True)``)."""

    def build() -> Any:
        # NOTE: transformers 5 pitfall: `BertTokenizerFast(vocab_file=...)` silently builds a 5-token vocabulary;
        # `vocab=` (a path) loads the real one. do_lower_case=True is SciBERT-uncased's default.
        from transformers import BertTokenizerFast

        return BertTokenizerFast(vocab=str(vocab_file), do_lower_case=True).backend_tokenizer

    key = _files_sha256([vocab_file])[:16] + "-wordpiece-" + package_version("tokenizers")
    return _load_cached_backend(key, build), "[UNK]"


def _from_pretrained_folder(path: Path) -> tuple[Any, str | None]:
    def build() -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(path), local_files_only=True).backend_tokenizer

    files = [f for f in path.iterdir() if f.is_file()]
    key = _files_sha256(files)[:16] + "-folder-" + package_version("tokenizers")
    backend = _load_cached_backend(key, build)
    return backend, _unk_token(backend)


def _unk_token(backend: Any) -> str | None:
    model = json.loads(backend.to_str()).get("model", {})
    if model.get("unk_token") is not None:
        return model["unk_token"]
    unk_id = model.get("unk_id")
    return backend.id_to_token(unk_id) if unk_id is not None else None


def _from_local_path(path: Path) -> tuple[Any, str | None]:
    if path.is_file():
        return _bert_from_vocab(path)
    if any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "spiece.model")):
        return _from_pretrained_folder(path)
    if (path / "vocab.txt").is_file():
        return _bert_from_vocab(path / "vocab.txt")
    raise ResourceNotFoundError(
        f"tokenizer path {path} holds neither vocab.txt nor tokenizer.json/tokenizer_config.json; "
        "pass a WordPiece vocab.txt, a folder holding one, or a saved Hugging Face tokenizer folder"
    )


def _from_hub(name: str) -> tuple[Any, str | None]:
    """Load a tokenizer by Hub name: the local HF cache first, a download only when online."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError) as exc:
        cached_error = exc
        if is_offline():
            raise ResourceNotFoundError(
                f"tokenizer {name!r} is not in the Hugging Face cache and the machine is offline "
                f"({cached_error}). Download it once online (`hf download {name}`), or pass a local path."
            ) from None
        logger.info("downloading tokenizer %s from the Hugging Face Hub", name)
        try:
            tok = AutoTokenizer.from_pretrained(name)
        except (OSError, ValueError) as exc2:
            raise ResourceNotFoundError(f"could not load tokenizer {name!r}: {exc2}") from exc2
    if not getattr(tok, "is_fast", False):
        raise ValueError(
            f"tokenizer {name!r} has no fast (Rust) implementation; icma-bench needs a fast tokenizer"
        )
    return tok.backend_tokenizer, tok.unk_token


def _hub_cached_file(name: str, filename: str) -> Path | None:
    """A file of a Hub repository from the local Hugging Face cache (no network, no transformers import)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(name, filename)
    return Path(found) if isinstance(found, str) else None


def _env_path(env: str, hint: str) -> Path | None:
    value = os.environ.get(env, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.exists():
        raise ResourceNotFoundError(f"${env}={value} does not exist. {hint}")
    return path


def _scibert_env_path() -> Path | None:
    path = _env_path(SCIBERT_ENV, f"Point it at SciBERT's vocab.txt (https://huggingface.co/{SCIBERT_NAME}).")
    if path is None:
        return None
    if path.is_file() or (path / "vocab.txt").is_file():
        return path if path.is_file() else path / "vocab.txt"
    raise ResourceNotFoundError(
        f"${SCIBERT_ENV}={path} holds no vocab.txt. Point it at SciBERT's vocab.txt "
        f"(from https://huggingface.co/{SCIBERT_NAME}) or the folder holding it."
    )


def _finish(backend: Any, unk: str | None, name: str) -> CaptionTokenizer:
    vocab = backend.get_vocab(with_added_tokens=True)
    if len(vocab) < 100:
        # The transformers-5 pitfalls (5-token BERT, 104-token T5 vocabularies) produce exactly this.
        raise ValueError(f"tokenizer {name!r} has only {len(vocab)} tokens: the vocabulary did not load")
    backend.no_padding()
    backend.no_truncation()
    config = hashlib.sha256(backend.to_str().encode("utf-8")).hexdigest()
    return CaptionTokenizer(
        backend=backend,
        name=name,
        vocab_sha256=compute_vocab_sha256(backend),
        config_sha256=config,
        unk_token=unk,
    )


@lru_cache(maxsize=8)
def load_caption_tokenizer(tokenizer: str | None = None) -> CaptionTokenizer:
    """Resolve the caption tokenizer of the ``molt5`` and ``strict`` protocols.

    ``None`` -> SciBERT uncased: ``$ICMA_BENCH_SCIBERT`` (a vocab.txt or the folder holding it), then the Hugging
    Face cache (offline), then a download when online. A string is a local path (vocab.txt, a folder with
    vocab.txt, or a saved tokenizer folder) or any Hub tokenizer name. ``trust_remote_code`` is never enabled.
    """
    if tokenizer is None:
        vocab = _scibert_env_path() or _hub_cached_file(SCIBERT_NAME, "vocab.txt")
        if vocab is not None:
            return _finish(*_bert_from_vocab(vocab), DEFAULT_TOKENIZER)
        try:
            return _finish(*_from_hub(SCIBERT_NAME), DEFAULT_TOKENIZER)
        except ResourceNotFoundError as exc:
            raise ResourceNotFoundError(
                f"SciBERT vocabulary not found: ${SCIBERT_ENV} is not set and {SCIBERT_NAME} is not in the "
                f"Hugging Face cache ({exc}). Fix: set {SCIBERT_ENV} to a folder holding SciBERT's vocab.txt "
                f"(or the file itself), or download it once online with `hf download {SCIBERT_NAME} vocab.txt`."
            ) from None
    path = Path(tokenizer).expanduser()
    if path.exists():
        name = path.name if path.is_dir() else path.parent.name or path.name
        return _finish(*_from_local_path(path), name)
    return _finish(*_from_hub(tokenizer), tokenizer)


@lru_cache(maxsize=2)
def load_icma_tokenizer() -> CaptionTokenizer:
    """The caption tokenizer of the ``icma`` protocol: ``T5Tokenizer.from_pretrained(ICMA_T5_NAME)`` as ICMA's and
    MolReGPT's ``naive_test.py`` load it. Resolved like SciBERT: ``$ICMA_BENCH_T5_TOKENIZER`` (a saved tokenizer
    folder, e.g. one holding ``spiece.model``), then the Hugging Face cache, then a download when online."""
    path = _env_path(
        ICMA_T5_ENV, f"Point it at a saved copy of the {ICMA_T5_NAME} tokenizer (spiece.model + configs)."
    )
    if path is not None:
        if not path.is_dir():
            raise ResourceNotFoundError(f"${ICMA_T5_ENV}={path} is not a folder holding a saved T5 tokenizer")
        return _finish(*_from_pretrained_folder(path), ICMA_T5_LABEL)
    try:
        return _finish(*_from_hub(ICMA_T5_NAME), ICMA_T5_LABEL)
    except ResourceNotFoundError as exc:
        raise ResourceNotFoundError(
            f"the icma protocol's caption tokenizer was not found: ${ICMA_T5_ENV} is not set and {ICMA_T5_NAME} is "
            f"not in the Hugging Face cache ({exc}). Fix: set {ICMA_T5_ENV} to a folder holding that tokenizer "
            f"(spiece.model + configs), or download it once online with `hf download {ICMA_T5_NAME}`."
        ) from None


def nltk_data_paths() -> list[str]:
    """NLTK's data search path, without importing NLTK when it is not loaded yet (its import costs ~2.7 s).

    Loaded NLTK: ``nltk.data.path`` (which a program may have changed), with ``$NLTK_DATA`` entries set after NLTK's
    import put first. Otherwise the list ``nltk.data`` builds at import: ``$NLTK_DATA``, ``~/nltk_data``, then the
    common locations (Windows: NLTK's own list, read from NLTK)."""
    env = [os.path.expanduser(d) for d in os.environ.get("NLTK_DATA", "").split(os.pathsep) if d]
    if "nltk.data" in sys.modules or sys.platform.startswith("win"):
        import nltk.data

        for entry in reversed(env):
            if entry not in nltk.data.path:
                nltk.data.path.insert(0, entry)
        return list(nltk.data.path)
    paths = list(env)
    if "APPENGINE_RUNTIME" not in os.environ and os.path.expanduser("~/") != "~/":
        paths.append(os.path.expanduser("~/nltk_data"))
    paths += [
        os.path.join(sys.prefix, "nltk_data"),
        os.path.join(sys.prefix, "share", "nltk_data"),
        os.path.join(sys.prefix, "lib", "nltk_data"),
        "/usr/share/nltk_data",
        "/usr/local/share/nltk_data",
        "/usr/lib/nltk_data",
        "/usr/local/lib/nltk_data",
    ]
    return paths


def find_wordnet() -> Path:
    """Locate WordNet for NLTK: the first ``corpora/wordnet.zip``, else ``corpora/wordnet/``, along NLTK's data path
    (the order ``nltk.data.find`` looks in)."""
    paths = nltk_data_paths()
    for resource in ("corpora/wordnet.zip", "corpora/wordnet"):
        for root in paths:
            candidate = Path(root) / resource
            if candidate.is_file() if resource.endswith(".zip") else candidate.is_dir():
                return candidate
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
