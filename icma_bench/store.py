"""A content-verified on-disk array store (neighbours, fingerprints, embeddings): ``.npy`` + JSON, never pickle.

An entry ``<name>`` is the files ``<name>.<array>.npy`` plus ``<name>.json``, written atomically, manifest last.
The manifest records the sha256 of every array file; an entry whose manifest is missing or unreadable, whose
parameters differ from the request, or whose arrays do not match their recorded hash/shape is stale or corrupt:
it is reported and rebuilt, never trusted. Array names are plain words (a manifest naming a path is corrupt).
Entry names are content hashes of everything that changes the numbers.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from icma_bench.files import sha256_texts, write_atomic

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1


def hash_array(a: np.ndarray) -> str:
    """Content hash of an array (dtype, shape and bytes)."""
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def hash_inputs(items: Sequence[str] | np.ndarray) -> str:
    """Content hash of retrieval inputs: a sequence of strings or a numeric array."""
    if isinstance(items, np.ndarray):
        return hash_array(items)
    return sha256_texts(list(items))


def compute_key(params: Mapping[str, Any]) -> str:
    """A stable hash of JSON-able parameters."""
    blob = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


_KEY = re.compile(r"[A-Za-z0-9_]+")


def _entry_path(directory: Path, name: str, key: str) -> Path:
    """``<directory>/<name>.<key>.npy``, refusing a key that could name a file outside ``directory``."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"array name {key!r} is not a plain name")
    path = directory / f"{name}.{key}.npy"
    if path.resolve().parent != directory.resolve():
        raise ValueError(f"{path} is outside the cache folder {directory}")
    return path


def save_arrays(
    directory: Path, name: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]
) -> None:
    """Write ``arrays`` and a manifest holding ``meta`` plus each file's sha256 (manifest last, all atomic)."""
    directory = Path(directory)
    files = {}
    for key, arr in arrays.items():
        payload = _npy_bytes(np.ascontiguousarray(arr))
        write_atomic(_entry_path(directory, name, key), payload)
        files[key] = {
            "sha256": hashlib.sha256(payload).hexdigest(),
            "shape": list(arr.shape),
            "dtype": arr.dtype.str,
        }
    manifest = {"format": CACHE_FORMAT, **meta, "files": files}
    write_atomic(
        directory / f"{name}.json",
        json.dumps(manifest, indent=1, sort_keys=True, default=str, allow_nan=False),
    )


def _check_manifest_shape(manifest: Any) -> None:
    """A manifest is an object whose ``files`` maps plain array names to objects (``[]``, ``null`` or a name with a
    path separator is a corrupt entry, rebuilt like any other)."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ValueError("the manifest is not an object with a 'files' object")
    for key, info in manifest["files"].items():
        if not _KEY.fullmatch(key):
            raise ValueError(f"array name {key!r} is not a plain name")
        if not isinstance(info, dict):
            raise ValueError(f"bad array entry {key!r} in the manifest")


def load_arrays(
    directory: Path, name: str, expect: Mapping[str, Any]
) -> tuple[dict[str, np.ndarray], dict] | None:
    """Load an entry if it exists and is intact and every ``expect`` item equals the manifest's; else ``None``.

    A missing entry is a plain miss; a present but stale or corrupt one is logged as such.
    """
    directory = Path(directory)
    manifest_path = directory / f"{name}.json"
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        _check_manifest_shape(manifest)
        if manifest.get("format") != CACHE_FORMAT:
            raise ValueError(f"cache format {manifest.get('format')!r} != {CACHE_FORMAT}")
        for key, value in expect.items():
            if manifest.get(key) != value:
                raise ValueError(f"parameter {key!r} differs ({manifest.get(key)!r} != {value!r})")
        arrays = {}
        files = manifest["files"]
        if not isinstance(files, dict):
            raise ValueError("'files' is not a mapping")
        for key, info in files.items():
            payload = _entry_path(directory, name, key).read_bytes()
            if hashlib.sha256(payload).hexdigest() != info["sha256"]:
                raise ValueError(f"{name}.{key}.npy does not match its recorded sha256")
            arr = np.load(io.BytesIO(payload), allow_pickle=False)
            if list(arr.shape) != info["shape"] or arr.dtype.str != info["dtype"]:
                raise ValueError(
                    f"{name}.{key}.npy has shape {arr.shape}/{arr.dtype}, expected {info['shape']}"
                )
            arrays[key] = arr
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        logger.warning("ignoring stale or corrupt cache entry %s (%s); rebuilding", manifest_path, exc)
        return None
    return arrays, manifest
