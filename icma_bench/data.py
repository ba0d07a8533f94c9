"""Datasets: ChEBI-20 and PubChem324k splits in MolT5 TSV format (``CID<TAB>SMILES<TAB>description``).

A split is found, in order: an explicit ``path`` (a file or a data folder), the ``ICMA_BENCH_DATA`` environment
variable (a data folder), the user cache (``~/.cache/icma_bench``, or ``$ICMA_BENCH_CACHE``), and finally a download
from the canonical source, pinned to a commit, verified by content (its git blob SHA-1) and row count, size-capped,
and moved atomically into the cache only once verified (:mod:`icma_bench.downloads`).

A local file named ``<split>.txt`` is checked against the known hash of that split (hashed once per size and
mtime); a mismatch is a warning naming the file and both hashes, and the records carry ``verified=False`` (a
modified local copy is legitimate; it is just not the published split). Files under other names (e.g.
``train_partial.tsv``) are unchecked (``verified=None``).

A data folder is laid out as ``<root>/<dataset>/<split>.txt`` (e.g. ``chebi20/test.txt``); the MolT5 layout
``<root>/chebi20/molt5/test.txt`` and ``<root>/pubchem324k/molcap/test.txt`` are accepted too.
"""

from __future__ import annotations

import logging
import os
import re
import urllib.error
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from icma_bench.downloads import DownloadError, download_verified, file_blob_sha1

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
    blob_sha1: str | None = None  # git blob SHA-1 (`git hash-object`): the content check of every split


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    splits: dict[str, SplitSource]
    # Sub-folders (relative to a data root) searched for ``<split>.txt``, in order.
    layouts: tuple[str, ...]
    citation: str = ""


# Pinned commits (never a branch): each holds exactly the blobs listed below (checked against the repositories'
# trees). MolT5 754f9bf: "Create LICENSE"; ICMA 974adf3 (the same blobs since c22686b, which added the data).
MOLT5_COMMIT = "754f9bffa4a638e2f1386d0ca19b5c3ed0a5b4aa"
ICMA_COMMIT = "974adf3cd9487c6ee4768c4d6317e11ab499e11d"
_MOLT5 = f"https://raw.githubusercontent.com/blender-nlp/MolT5/{MOLT5_COMMIT}/ChEBI-20_data"
_ICMA_PUBCHEM = f"https://raw.githubusercontent.com/phenixace/ICMA/{ICMA_COMMIT}/data/PubChem324k/molcap/raw"

DATASETS: dict[str, DatasetSpec] = {
    "chebi20": DatasetSpec(
        name="chebi20",
        splits={
            "train": SplitSource(
                f"{_MOLT5}/train.txt", 26407, blob_sha1="c1b42b82fdc8fb5287614e159196e25370763aac"
            ),
            "validation": SplitSource(
                f"{_MOLT5}/validation.txt",
                3301,
                "f410b58e6825986577d01b4f0c14b59ed61c1343a15118ba584de4bbcea1508c",
                "694d328d621966d5c9ad0f36083fdfcf293191d5",
            ),
            "test": SplitSource(
                f"{_MOLT5}/test.txt",
                3300,
                "91776254b54ef13ad701ede0ecdbd7bcd30c19a66e52aa34a6dac8d0e7306d72",
                "cf6da70d55c2745c6e64cf6864ea8cdbcdc80663",
            ),
        },
        layouts=("chebi20", "chebi20/molt5", "ChEBI-20_data"),
        citation="Edwards et al., Translation between Molecules and Natural Language (MolT5), EMNLP 2022",
    ),
    "pubchem324k": DatasetSpec(
        name="pubchem324k",
        splits={
            "train": SplitSource(
                f"{_ICMA_PUBCHEM}/train.txt", 12000, blob_sha1="458d74be1c92cc4eaa2794f053466f656b76ce2e"
            ),
            "validation": SplitSource(
                f"{_ICMA_PUBCHEM}/validation.txt",
                1000,
                "03d3e8248c98954c50934fcebc07e266ac8885238a3322fc457dc210bc91f75f",
                "fc43ddcace1f06a672a48d01471c5490eaae304d",
            ),
            "test": SplitSource(
                f"{_ICMA_PUBCHEM}/test.txt",
                2000,
                "0bdf2de078a24c2fd772eb08c97fecf014ba9fcb1edb5fa4a0483f2da7de17db",
                "5de61ad900b8719eeab69eb0e71b93a47849a0ec",
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
    # The source file matched its split's published content hash: True / False (a modified copy) / None (unchecked).
    verified: bool | None = field(default=None, compare=False, repr=False)

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
    source = spec.splits[split]
    offline = any(os.environ.get(v, "").strip() not in ("", "0", "false") for v in OFFLINE_ENVS)
    if cached.is_file():
        if verify_split_file(dataset, split, cached) is not False or not download or offline:
            return cached  # a damaged cached copy that cannot be replaced is used, with a warning (verified=False)
        logger.warning("re-downloading %s %s: the cached copy %s is damaged", dataset, split, cached)
    looked.append(f"user cache: {cached}")
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
    """Download one split from its pinned source; verify content hash and row count before it reaches ``dest``."""
    source = _spec(dataset, split).splits[split]
    logger.info("downloading %s %s from %s", dataset, split, source.url)

    def check_rows(payload: bytes) -> None:
        rows = parse_records(_split_rows(_decode(payload, source.url)), source=source.url)
        if len(rows) != source.rows:
            raise DownloadError(f"{source.url} has {len(rows)} rows, expected {source.rows}")

    return download_verified(
        source.url, dest, blob_sha1=source.blob_sha1, sha256=source.sha256, check=check_rows
    )


def verify_split_file(dataset: str, split: str, path: str | os.PathLike) -> bool | None:
    """Check a local file named ``<split>.txt`` against the published content hash of that split.

    True: it is the published split. False: it differs (a warning names the file and both hashes; the file is still
    used: a modified local copy is legitimate, but it is not the benchmark's split). None: another file name, or no
    hash known, so nothing to compare with."""
    source = DATASETS.get(dataset, DatasetSpec("", {}, ())).splits.get(split)
    p = Path(path)
    if source is None or not source.blob_sha1 or p.name != f"{split}.txt":
        return None
    got = file_blob_sha1(p)
    if got == source.blob_sha1:
        return True
    logger.warning(
        "%s is not the published %s %s split: git blob SHA-1 %s, expected %s (from %s); "
        "using it as given and recording verified=false",
        p,
        dataset,
        split,
        got,
        source.blob_sha1,
        source.url,
    )
    return False


def _decode(payload: bytes, source: str) -> str:
    """UTF-8 (a leading BOM tolerated); invalid bytes raise naming file and line."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = payload[: exc.start].count(b"\n") + 1
        raise MalformedDataError(
            f"{source}:{line}: not valid UTF-8 ({exc.reason} at byte {exc.start}); data files must be UTF-8"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def _split_rows(text: str) -> list[str]:
    """Rows end at ``\n`` only (``\r\n`` tolerated). NOTE: never ``str.splitlines``: it also splits at U+2028,
    U+0085, form feeds... which may sit inside a caption."""
    if not text.strip():
        return []  # an empty (or whitespace-only) file: "empty file", not a malformed header
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


_FIELD_BREAK = re.compile(r"[\r\n]")


def parse_records(
    lines: Iterable[str], source: str = "<memory>", *, verified: bool | None = None
) -> list[Record]:
    """Parse MolT5-format rows (first a header). Malformed rows raise :class:`MalformedDataError` naming file and
    line: wrong field count, an empty CID, SMILES or description. Repeated CIDs are logged (CIDs are labels here:
    retrieval excludes a query by position, never by CID)."""
    it = iter(lines)
    header = next(it, None)
    if header is None:
        raise MalformedDataError(f"{source}: empty file (expected a header CID<TAB>SMILES<TAB>description)")
    header = header.removeprefix("\ufeff")
    cols = [c.strip().lower() for c in header.rstrip("\r\n").split("\t")]
    if len(cols) != 3 or cols[0] != "cid" or cols[1] != "smiles":
        raise MalformedDataError(
            f"{source}:1: expected header 'CID<TAB>SMILES<TAB>description', got {header[:200]!r}"
        )
    out: list[Record] = []
    first_line: dict[str, int] = {}
    duplicates: list[str] = []
    for lineno, raw in enumerate(it, start=2):
        line = raw.rstrip("\r\n")
        if not line.strip(" \t"):
            continue  # trailing blank lines carry no row
        if _FIELD_BREAK.search(line):
            raise MalformedDataError(f"{source}:{lineno}: a row holds a line break (\\r or \\n)")
        parts = line.split("\t")
        if len(parts) != 3:
            raise MalformedDataError(
                f"{source}:{lineno}: expected 3 tab-separated fields, got {len(parts)} (CID, SMILES, description)"
            )
        cid, smiles, desc = parts
        if not cid.strip() or not smiles.strip():
            raise MalformedDataError(f"{source}:{lineno}: empty CID or SMILES")
        if not desc.strip():
            raise MalformedDataError(f"{source}:{lineno}: empty description (CID {cid})")
        if cid in first_line:
            duplicates.append(f"{cid} (lines {first_line[cid]} and {lineno})")
        else:
            first_line[cid] = lineno
        # NOTE: fields are kept byte for byte (no strip) apart from the line ending: metrics compare raw strings,
        # and some PubChem324k captions end in spaces that the published references keep.
        out.append(
            Record(cid=cid, smiles=smiles, description=desc, source=source, line=lineno, verified=verified)
        )
    if duplicates:
        logger.warning(
            "%s: %d repeated CID(s), e.g. %s; rows are kept (each is its own example)",
            source,
            len(duplicates),
            ", ".join(duplicates[:3]),
        )
    return out


def load_records(path: str | os.PathLike, *, verified: bool | None = None) -> list[Record]:
    """Load a MolT5-format TSV file. A file with a header but no rows is an error (a split is never empty)."""
    p = Path(path)
    try:
        payload = p.read_bytes()
    except FileNotFoundError:
        raise DataNotFoundError(f"data file not found: {p}") from None
    except OSError as exc:
        raise DataNotFoundError(f"data file {p} cannot be read: {exc.strerror or exc}") from None
    records = parse_records(_split_rows(_decode(payload, str(p))), source=str(p), verified=verified)
    if not records:
        raise MalformedDataError(
            f"{p}: no data rows after the header: the split (or retrieval pool) is empty"
        )
    return records


def load_split(
    dataset: str, split: str, path: str | os.PathLike | None = None, *, download: bool = True
) -> list[Record]:
    """Load one split of ``dataset`` (``chebi20`` or ``pubchem324k``) as a list of :class:`Record`; each record's
    ``verified`` says whether the file is the published split (see :func:`verify_split_file`)."""
    p = resolve_split(dataset, split, path, download=download)
    return load_records(p, verified=verify_split_file(dataset, split, p))


_SURROGATE = re.compile("[\ud800-\udfff]")


def find_lone_surrogate(text: str) -> int | None:
    """Position of the first surrogate code point in ``text`` (never valid in UTF-8 text), or None."""
    m = _SURROGATE.search(text)
    return None if m is None else m.start()


def repair_lone_surrogates(texts: Sequence[str]) -> tuple[list[str], int]:
    """``texts`` with every lone surrogate (e.g. ``json.loads('"\\ud800"')``) replaced by U+FFFD, and how many
    texts needed it. Model outputs are data: a broken one is scored (and counted), never a crash."""
    out, repaired = [], 0
    for t in texts:
        if _SURROGATE.search(t):
            t = _SURROGATE.sub("\ufffd", t)
            repaired += 1
        out.append(t)
    return out, repaired


def check_no_surrogates(texts: Sequence[str], what: str) -> None:
    """Raise naming the first item of ``texts`` that holds a lone surrogate (reference data must be valid text)."""
    for i, t in enumerate(texts):
        pos = find_lone_surrogate(t)
        if pos is not None:
            raise ValueError(
                f"{what}[{i}] holds a lone surrogate U+{ord(t[pos]):04X} at position {pos}: not valid Unicode "
                "text (references must be; fix the reference data)"
            )
