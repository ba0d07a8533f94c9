"""Datasets: ChEBI-20 and PubChem324k splits in MolT5 TSV format (``CID<TAB>SMILES<TAB>description``).

A split is found, in order: an explicit ``path`` (a file or a data folder), the ``ICMA_BENCH_DATA`` environment
variable (a data folder), the user cache (``~/.cache/icma_bench``, or ``$ICMA_BENCH_CACHE``), and finally a download
from the canonical source, verified by row count (and sha256 where known) and written atomically into the cache.

A data folder is laid out as ``<root>/<dataset>/<split>.txt`` (e.g. ``chebi20/test.txt``); the MolT5 layout
``<root>/chebi20/molt5/test.txt`` and ``<root>/pubchem324k/molcap/test.txt`` are accepted too.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

logger = logging.getLogger(__name__)

DATA_ENV = "ICMA_BENCH_DATA"
CACHE_ENV = "ICMA_BENCH_CACHE"
OFFLINE_ENVS = ("ICMA_BENCH_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


@dataclass(frozen=True)
class SplitSource:
    """Where one split comes from and how it is verified."""

    url: str
    rows: int
    sha256: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    splits: dict[str, SplitSource]
    # Sub-folders (relative to a data root) searched for ``<split>.txt``, in order.
    layouts: tuple[str, ...]
    citation: str = ""


_MOLT5 = "https://raw.githubusercontent.com/blender-nlp/MolT5/main/ChEBI-20_data"
_ICMA_PUBCHEM = "https://raw.githubusercontent.com/phenixace/ICMA/main/data/PubChem324k/molcap/raw"

DATASETS: dict[str, DatasetSpec] = {
    "chebi20": DatasetSpec(
        name="chebi20",
        splits={
            "train": SplitSource(f"{_MOLT5}/train.txt", 26407),
            "validation": SplitSource(
                f"{_MOLT5}/validation.txt",
                3301,
                "f410b58e6825986577d01b4f0c14b59ed61c1343a15118ba584de4bbcea1508c",
            ),
            "test": SplitSource(
                f"{_MOLT5}/test.txt", 3300, "91776254b54ef13ad701ede0ecdbd7bcd30c19a66e52aa34a6dac8d0e7306d72"
            ),
        },
        layouts=("chebi20", "chebi20/molt5", "ChEBI-20_data"),
        citation="Edwards et al., Translation between Molecules and Natural Language (MolT5), EMNLP 2022",
    ),
    "pubchem324k": DatasetSpec(
        name="pubchem324k",
        splits={
            "train": SplitSource(f"{_ICMA_PUBCHEM}/train.txt", 12000),
            "validation": SplitSource(
                f"{_ICMA_PUBCHEM}/validation.txt",
                1000,
                "03d3e8248c98954c50934fcebc07e266ac8885238a3322fc457dc210bc91f75f",
            ),
            "test": SplitSource(
                f"{_ICMA_PUBCHEM}/test.txt",
                2000,
                "0bdf2de078a24c2fd772eb08c97fecf014ba9fcb1edb5fa4a0483f2da7de17db",
            ),
        },
        layouts=("pubchem324k", "pubchem324k/molcap"),
        citation="Liu et al., MolCA, EMNLP 2023 (split); ICMA's copy (Li et al., TKDE 2025)",
    ),
}
# NOTE: the MolT5 release's validation.txt holds 3,301 rows (the design card's count); train 26,407, test 3,300.
SPLITS = ("train", "validation", "test")


class DataNotFoundError(FileNotFoundError):
    """A split could not be found locally nor downloaded."""


class MalformedDataError(ValueError):
    """A data file has a row that is not ``CID<TAB>SMILES<TAB>description``."""


@dataclass(frozen=True)
class Record:
    """One molecule/caption pair. ``smiles`` is the raw string from the file (metrics compare raw strings)."""

    cid: str
    smiles: str
    description: str
    source: str = field(default="", compare=False, repr=False)
    line: int = field(default=0, compare=False, repr=False)

    @cached_property
    def canonical_smiles(self) -> str | None:
        """RDKit canonical SMILES, or None when RDKit cannot parse the raw string."""
        from icma_bench.chem import canonical_smiles

        return canonical_smiles(self.smiles)


def cache_dir() -> Path:
    """The user cache root (``$ICMA_BENCH_CACHE`` or ``~/.cache/icma_bench``)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "icma_bench"


def _spec(dataset: str, split: str) -> DatasetSpec:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {sorted(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {list(SPLITS)}")
    return DATASETS[dataset]


def _candidates(root: Path, spec: DatasetSpec, split: str) -> list[Path]:
    out = [root / layout / f"{split}.txt" for layout in spec.layouts]
    out.append(root / f"{split}.txt")  # a folder holding this dataset's split files directly
    return out


def resolve_split(
    dataset: str, split: str, path: str | os.PathLike | None = None, *, download: bool = True
) -> Path:
    """Find (or download) the file of one split. Raises :class:`DataNotFoundError` naming every place looked."""
    spec = _spec(dataset, split)
    looked: list[str] = []
    if path is not None:
        # An explicit path is the only place looked: never a silent fall-back to $ICMA_BENCH_DATA or the cache.
        p = Path(path).expanduser()
        if p.is_file():
            return p  # one file serves every split (a pool equal to the evaluated split is searched leave-one-out)
        if not p.is_dir():
            raise DataNotFoundError(
                f"data path {p} does not exist. Fix: pass an existing data folder or split file "
                "(--data on the CLI, --metadata data_path=... for the lm-eval tasks)."
            )
        candidates = _candidates(p, spec, split)
        for c in candidates:
            if c.is_file():
                return c
        raise DataNotFoundError(
            f"{dataset} {split} split not found in the data folder {p}; looked for "
            + ", ".join(str(c.relative_to(p)) for c in candidates)
            + f". Fix: put {split}.txt there (MolT5 format), or pass another folder."
        )
    env = os.environ.get(DATA_ENV)
    if env:
        for c in _candidates(Path(env).expanduser(), spec, split):
            if c.is_file():
                return c
            looked.append(f"${DATA_ENV}: {c}")
    else:
        looked.append(f"${DATA_ENV}: not set")
    cached = cache_dir() / dataset / f"{split}.txt"
    if cached.is_file():
        return cached
    looked.append(f"user cache: {cached}")
    source = spec.splits[split]
    offline = any(os.environ.get(v, "").strip() not in ("", "0", "false") for v in OFFLINE_ENVS)
    if download and not offline:
        try:
            return download_split(dataset, split, cached)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            looked.append(f"download: {source.url} failed ({exc})")
    else:
        looked.append(f"download: {source.url} skipped ({'offline' if offline else 'download=False'})")
    raise DataNotFoundError(
        f"{dataset} {split} split not found. Looked in:\n  - "
        + "\n  - ".join(looked)
        + f"\nFix: pass an explicit path, set {DATA_ENV} to a folder holding {dataset}/{split}.txt, "
        f"or download {source.url} into {cached}."
    )


def download_split(dataset: str, split: str, dest: Path) -> Path:
    """Download one split from its canonical source, verify it, and write it atomically to ``dest``."""
    source = _spec(dataset, split).splits[split]
    logger.info("downloading %s %s from %s", dataset, split, source.url)
    with urllib.request.urlopen(source.url, timeout=60) as resp:  # noqa: S310 (fixed https URL)
        payload = resp.read()
    digest = hashlib.sha256(payload).hexdigest()
    if source.sha256 and digest != source.sha256:
        raise ValueError(f"sha256 mismatch for {source.url}: got {digest}, expected {source.sha256}")
    rows = parse_records(payload.decode("utf-8").splitlines(), source=source.url)
    if len(rows) != source.rows:
        raise ValueError(f"{source.url} has {len(rows)} rows, expected {source.rows}")
    write_atomic(dest, payload)
    return dest


def current_umask() -> int:
    """The process umask, read without changing it where the kernel reports it (Linux >= 4.7)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: set and restore at once (the only portable way to read it)
    os.umask(mask)
    return mask


def write_atomic(dest: Path, payload: bytes | str) -> None:
    """Write ``payload`` to ``dest`` via a temporary file in the same folder and an atomic rename."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            # NOTE: mkstemp creates 0600 files; give the file the mode open() would (0666 less the umask), so a
            # team can share a cache or an output folder.
            with contextlib.suppress(OSError):
                os.fchmod(fh.fileno(), 0o666 & ~current_umask())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def parse_records(lines: Iterable[str], source: str = "<memory>") -> list[Record]:
    """Parse MolT5-format lines (first line a header). Malformed rows raise with file and line number."""
    it = iter(lines)
    header = next(it, None)
    if header is None:
        raise MalformedDataError(f"{source}: empty file (expected a header CID<TAB>SMILES<TAB>description)")
    cols = [c.strip().lower() for c in header.rstrip("\r\n").split("\t")]
    if len(cols) != 3 or cols[0] != "cid" or cols[1] != "smiles":
        raise MalformedDataError(
            f"{source}:1: expected header 'CID<TAB>SMILES<TAB>description', got {header!r}"
        )
    out: list[Record] = []
    for lineno, raw in enumerate(it, start=2):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue  # trailing blank lines carry no row
        parts = line.split("\t")
        if len(parts) != 3:
            raise MalformedDataError(f"{source}:{lineno}: expected 3 tab-separated fields, got {len(parts)}")
        cid, smiles, desc = parts
        if not cid.strip() or not smiles.strip():
            raise MalformedDataError(f"{source}:{lineno}: empty CID or SMILES")
        # NOTE: fields are kept byte for byte (no strip) apart from the line ending: metrics compare raw strings,
        # and some PubChem324k captions end in spaces that the published references keep.
        out.append(Record(cid=cid, smiles=smiles, description=desc, source=source, line=lineno))
    return out


def load_records(path: str | os.PathLike) -> list[Record]:
    """Load a MolT5-format TSV file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataNotFoundError(f"data file not found: {p}") from None
    return parse_records(text.splitlines(), source=str(p))


def load_split(
    dataset: str, split: str, path: str | os.PathLike | None = None, *, download: bool = True
) -> list[Record]:
    """Load one split of ``dataset`` (``chebi20`` or ``pubchem324k``) as a list of :class:`Record`."""
    return load_records(resolve_split(dataset, split, path, download=download))


def sha256_texts(texts: Sequence[str]) -> str:
    """A content hash of a sequence of strings (length-prefixed, so boundaries count)."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()
