"""RDKit helpers: parsing with RDKit's log noise silenced, canonical SMILES, InChI.

Unparsable input is a value (``None``), never an exception: callers count it. RDKit work on untrusted molecules is
bounded per molecule (:func:`passes_screen`, :func:`run_guarded`): a molecule over the bound is :data:`TOO_COMPLEX`.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import math
import os
import re
import select
import signal
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from rdkit import Chem, RDLogger

logger = logging.getLogger(__name__)
T = TypeVar("T")

# NOTE: huge strings make RDKit slow and are never valid model output worth parsing in a benchmark;
# anything longer than this is treated as unparsable (counted as invalid, never dropped).
MAX_SMILES_CHARS = 10_000


@contextlib.contextmanager
def quiet_rdkit() -> Iterator[None]:
    """Silence RDKit's C++ logger for the duration of the block (restores it afterwards)."""
    RDLogger.DisableLog("rdApp.*")
    try:
        yield
    finally:
        RDLogger.EnableLog("rdApp.*")


def mol_from_smiles(smiles: str | None) -> Chem.Mol | None:
    """Parse a SMILES string; ``None`` for empty, oversized or unparsable input (no log spam)."""
    if not smiles or not isinstance(smiles, str) or len(smiles) > MAX_SMILES_CHARS:
        return None
    with quiet_rdkit():
        try:
            return Chem.MolFromSmiles(smiles)
        except Exception:  # RDKit raises on a few pathological inputs (e.g. embedded NULs)
            return None


def canonical_smiles(smiles: str | None) -> str | None:
    """RDKit canonical isomeric SMILES, or ``None`` when unparsable."""
    mol = mol_from_smiles(smiles)
    if mol is None:
        return None
    return Chem.MolToSmiles(mol)


def mol_to_inchi(mol: Chem.Mol | None) -> str | None:
    """Standard InChI of a molecule, ``None`` when RDKit cannot produce one (or returns an empty string)."""
    if mol is None:
        return None
    with quiet_rdkit():
        try:
            inchi = Chem.MolToInchi(mol)
        except Exception:
            return None
    return inchi or None


# --- Bounded RDKit work on untrusted molecules -------------------------------------------------------------------
#
# RDKit's path fingerprint enumerates every connected subgraph of up to 7 bonds and MACCS runs SMARTS searches: both
# explode on dense graphs no chemist writes (12 mutually bonded Fe atoms: > 17 GB in 100 s; a sulfur lattice: 28 s
# in MACCS). A molecule is first screened by cheap counts; one that passes runs in-process (bounded: measured < 0.2 s
# for the worst case the screen admits, see benchmarks/README.md); one that does not runs in a forked child under a
# wall-time limit and an address-space limit, and a molecule over either bound is TOO_COMPLEX (a value, counted).

#: The screen: at most this many ring closures in the string (= the cyclomatic number), heavy atoms and bonds per atom.
#: ChEBI-20's 33,010 molecules: max degree 6 (14 over 4), 1.0% over 10 ring closures, 0.3% over 200 atoms.
SCREEN_RING_CLOSURES = 12
SCREEN_ATOMS = 200
SCREEN_DEGREE = 4

TOO_COMPLEX = "too_complex"
_BRACKET = re.compile(r"\[[^\]]*\]")
_CLOSURE = re.compile(r"%\d\d|\d")


@dataclass(frozen=True)
class MoleculeLimits:
    """Per-molecule bound on RDKit work for molecules that fail the cheap screen.

    ``seconds``: wall time per molecule (the slowest ChEBI-20 molecule takes 0.13 s here); ``memory_mib``: address
    space the guarded child may add to what it inherited. ``None`` for both: no guard (trust every input).
    """

    seconds: float | None = 5.0
    memory_mib: int | None = 2048

    def __post_init__(self) -> None:
        if self.seconds is not None and not (self.seconds > 0 and math.isfinite(self.seconds)):
            raise ValueError(
                f"molecule time limit must be a positive number of seconds, got {self.seconds!r}"
            )
        if self.memory_mib is not None and (not isinstance(self.memory_mib, int) or self.memory_mib < 64):
            raise ValueError(f"molecule memory limit must be an integer >= 64 MiB, got {self.memory_mib!r}")

    @property
    def enabled(self) -> bool:
        return self.seconds is not None or self.memory_mib is not None

    @property
    def signature(self) -> str:
        """E.g. ``5s/2048MiB/screen:12r,200a,4d`` (``off`` when unguarded)."""
        if not self.enabled:
            return "off"
        t = "-" if self.seconds is None else f"{self.seconds:g}s"
        m = "-" if self.memory_mib is None else f"{self.memory_mib}MiB"
        return f"{t}/{m}/screen:{SCREEN_RING_CLOSURES}r,{SCREEN_ATOMS}a,{SCREEN_DEGREE}d"


DEFAULT_LIMITS = MoleculeLimits()


def count_ring_closures(smiles: str) -> int:
    """Ring-closure bonds written in a SMILES (digits and ``%nn`` outside brackets, halved): its cyclomatic number."""
    return len(_CLOSURE.findall(_BRACKET.sub("", smiles))) // 2


def passes_screen(smiles: str, mol: Chem.Mol | None = None) -> bool:
    """Cheap counts under which RDKit's fingerprints are known to be fast; ``mol`` adds the graph checks."""
    if count_ring_closures(smiles) > SCREEN_RING_CLOSURES:
        return False
    if mol is None:
        return True
    if mol.GetNumAtoms() > SCREEN_ATOMS:
        return False
    return all(a.GetDegree() <= SCREEN_DEGREE for a in mol.GetAtoms())


_WARNED_NO_FORK = False


def run_guarded(fn: Callable[[T], bytes], items: Sequence[T], limits: MoleculeLimits) -> list[bytes | str]:
    """``fn(item)`` for each item in a forked child, each under ``limits``; :data:`TOO_COMPLEX` where one ran past
    its time, ran out of its memory, raised, or killed the child (the child is then restarted after that item).

    One child serves the items in order (one fork for many molecules). Without ``fork`` the items run in-process,
    unguarded, with a warning.
    """
    global _WARNED_NO_FORK
    out: list[bytes | str] = []
    if not items:
        return out
    if not hasattr(os, "fork") or not limits.enabled:
        if not _WARNED_NO_FORK and limits.enabled:
            logger.warning("no fork() on this platform: risky molecules run unguarded")
            _WARNED_NO_FORK = True
        for item in items:
            try:
                out.append(fn(item))
            except Exception:
                out.append(TOO_COMPLEX)
        return out
    while len(out) < len(items):
        out.extend(_run_child(fn, items, len(out), limits))
    return out


def _run_child(fn, items, start: int, limits: MoleculeLimits) -> list[bytes | str]:
    """Fork one child for ``items[start:]``; return the results it delivered, ending with the item that failed."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        code = 0
        try:
            faulthandler.disable()  # a crash here is an expected outcome, not a traceback to print
            _limit_memory(limits.memory_mib)
            for item in items[start:]:
                try:
                    payload, status = fn(item), b"\x00"
                except Exception:  # MemoryError (the limit), RDKit errors
                    payload, status = b"", b"\x01"
                _write_all(write_fd, status + struct.pack("<Q", len(payload)) + payload)
        except BaseException:
            code = 1
        os._exit(code)
    os.close(write_fd)
    got: list[bytes | str] = []
    try:
        while start + len(got) < len(items):
            header = _read_exact(read_fd, 9, limits.seconds)
            payload = None
            if header is not None:
                (size,) = struct.unpack("<Q", header[1:])
                payload = _read_exact(read_fd, size, limits.seconds) if size else b""
            if header is None or payload is None:  # timed out or the child died (memory, crash)
                got.append(TOO_COMPLEX)
                break
            got.append(TOO_COMPLEX if header[:1] == b"\x01" else payload)
    finally:
        os.close(read_fd)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return got


def _limit_memory(memory_mib: int | None) -> None:
    if memory_mib is None:
        return
    try:
        import resource

        inherited = 0
        with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    inherited = int(line.split()[1]) * 1024
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        want = inherited + memory_mib * 2**20
        if hard != resource.RLIM_INFINITY:
            want = min(want, hard)
        resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    except (ImportError, OSError, ValueError):  # no RLIMIT_AS here: the time limit still holds
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, n: int, seconds: float | None) -> bytes | None:
    """``n`` bytes from ``fd`` within ``seconds`` (None: no limit); None on timeout or end of file."""
    deadline = None if seconds is None else time.monotonic() + seconds
    chunks, left = [], n
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
