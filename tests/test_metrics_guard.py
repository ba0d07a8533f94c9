"""The per-molecule bound on RDKit work: pathological SMILES score in bounded time and memory, counted too_complex;
normal molecules score exactly as without the bound."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO

from icma_bench.chem import (
    TOO_COMPLEX,
    MoleculeLimits,
    count_ring_closures,
    passes_screen,
    run_guarded,
)
from icma_bench.metrics import compute


def complete_graph_smiles(n: int, atom: str = "[Fe]") -> str:
    """n mutually bonded atoms: a chain plus a ring closure for every other pair (labels reused)."""
    free, opened, parts = list(range(1, 100)), {}, []
    for i in range(n):
        s = atom
        for pair, label in sorted(opened.items()):
            if pair[1] == i:
                s += str(label) if label < 10 else f"%{label}"
                free.append(label)
                free.sort()
                del opened[pair]
        for j in range(i + 2, n):
            label = free.pop(0)
            opened[(i, j)] = label
            s += str(label) if label < 10 else f"%{label}"
        parts.append(s)
    return "".join(parts)


def lattice_smiles(nx: int, ny: int, nz: int) -> str:
    """A cubic lattice of sulfur atoms (each bonded to its up to six neighbours)."""
    from rdkit import Chem

    rw = Chem.RWMol()
    idx = {}
    for x in range(nx):
        for y in range(ny):
            for z in range(nz):
                idx[x, y, z] = rw.AddAtom(Chem.Atom(16))
    for (x, y, z), i in idx.items():
        for dx, dy, dz in ((1, 0, 0), (0, 1, 0), (0, 0, 1)):
            j = idx.get((x + dx, y + dy, z + dz))
            if j is not None:
                rw.AddBond(i, j, Chem.BondType.SINGLE)
    return Chem.MolToSmiles(rw.GetMol(), canonical=False)


IRON_12 = complete_graph_smiles(12)

# Legitimate molecules that fail the cheap screen (degree 6, > 200 atoms, > 12 ring closures): they go through
# the guarded child and must score exactly as unguarded.
RISKY_BUT_FINE = [
    "FS(F)(F)(F)(F)F",
    "C" * 260,
    ".".join(["c1ccccc1"] * 13),
    "OCC1OC(O)C(O)C(O)C1O." * 3 + "CCO",
]


def test_screen_counts():
    assert count_ring_closures("c1ccccc1") == 1
    assert count_ring_closures("[13CH3]C1CC%12CC1%12") == 2
    assert count_ring_closures(IRON_12) == 66 - 11
    assert passes_screen("CCO") and not passes_screen(IRON_12)


def test_iron_cluster_scores_in_bounded_time_and_memory(tmp_path):
    """The 12-iron SMILES (> 17 GB in 100 s unbounded) in a fresh process: < 10 s, < 3 GiB, counted too_complex."""
    script = f"""
import json, resource, sys, time
from icma_bench.metrics import compute
t = time.perf_counter()
r = compute("caption2mol", [{IRON_12!r}, "CCO"], ["CCO", "CCO"], protocol="molt5+strict", n_jobs=1,
            molecule_time_limit=2.0, molecule_memory_limit=1024)
peak = max(resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(json.dumps({{"seconds": time.perf_counter() - t, "peak_kib": peak, **r.to_dict()}}))
"""

    def cap():  # a safety belt for this machine: the test fails rather than take the host down
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, resource.RLIM_INFINITY))

    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "ICMA_BENCH_CACHE": str(tmp_path)},
        preexec_fn=cap,
    )
    wall = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert wall < 10 and out["seconds"] < 5
    assert out["peak_kib"] < 3 * 2**20
    counts = out["counts"]
    assert counts["n"] == 2 and counts["too_complex"] == 1 and counts["unparsable"] == 1
    assert counts["valid"] == 1 and counts.get("strict_valid", 1) == 1  # equal counts are not repeated
    assert out["scores"]["validity"] == 0.5 and out["scores"]["maccs_fts"] == 1.0  # mean over the valid one
    assert out["scores"]["strict_maccs_fts"] == 0.5  # strict: the too_complex output scores 0
    assert out["signature"]["mol_limit"].startswith("2s/1024MiB/")


def test_memory_bound_stops_a_molecule_before_its_time_bound():
    start = time.perf_counter()
    r = compute(
        "caption2mol", [IRON_12], ["CCO"], n_jobs=1, molecule_time_limit=60.0, molecule_memory_limit=128
    )
    assert time.perf_counter() - start < 30
    assert r.counts["too_complex"] == 1 and r.scores["validity"] == 0.0


def test_sulfur_lattice_over_the_time_bound_is_too_complex():
    lattice = lattice_smiles(4, 4, 3)  # 310 characters; 23 s in MACCS unbounded
    start = time.perf_counter()
    r = compute("caption2mol", [lattice, "CCO"], ["CCO", lattice], n_jobs=1, molecule_time_limit=1.0)
    assert time.perf_counter() - start < 8
    assert r.counts["too_complex"] == 1 and r.counts["too_complex_references"] == 1
    assert r.counts["invalid_references"] == 1 and r.counts["scored_pairs"] == 0


def test_normal_and_risky_but_fine_molecules_score_as_unguarded():
    preds = [*RISKY_BUT_FINE, "CCO", "c1ccccc1O", "not a smiles", "", "C1=CC=CN=C1"]
    refs = [
        "FS(F)(F)(F)(F)F",
        "C" * 250,
        "c1ccccc1",
        "OCC1OC(O)C(O)C(O)C1O",
        "CCO",
        "c1ccccc1",
        "CCN",
        "C",
        "c1ccncc1",
    ]
    kw = {"protocol": "all", "n_jobs": 1, "per_item": True}
    guarded = compute("caption2mol", preds, refs, **kw)
    plain = compute("caption2mol", preds, refs, molecule_time_limit=None, molecule_memory_limit=None, **kw)
    assert guarded.scores == plain.scores
    assert guarded.items == plain.items
    assert guarded.counts == plain.counts and guarded.counts["too_complex"] == 0
    assert plain.signature["mol_limit"] == "off"


def _crash(item):
    if item == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if item == "raise":
        raise RuntimeError("boom")
    if item == "hang":
        time.sleep(60)
    if item == "eat":
        _ = bytearray(1 << 30)
    return item.encode()


def test_run_guarded_survives_crashes_hangs_and_memory():
    items = ["a", "segfault", "b", "raise", "hang", "c", "eat", "d"]
    start = time.perf_counter()
    got = run_guarded(_crash, items, MoleculeLimits(seconds=1.0, memory_mib=256))
    assert time.perf_counter() - start < 10
    assert got == [b"a", TOO_COMPLEX, b"b", TOO_COMPLEX, TOO_COMPLEX, b"c", TOO_COMPLEX, b"d"]


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_limits_are_validated(bad):
    with pytest.raises(ValueError, match="time limit"):
        MoleculeLimits(seconds=bad)


def test_retrieval_fingerprints_are_guarded():
    from icma_bench.retrieval.fingerprint import compute_fingerprints

    limits = MoleculeLimits(seconds=1.0, memory_mib=512)
    start = time.perf_counter()
    for kind in ("rdkit_fp", "morgan"):
        fps = compute_fingerprints([IRON_12, "CCO", *RISKY_BUT_FINE], kind, workers=1, limits=limits)
        plain = compute_fingerprints(
            ["CCO", *RISKY_BUT_FINE], kind, workers=1, limits=MoleculeLimits(None, None)
        )
        assert fps.valid.tolist() == [kind == "morgan", True, True, True, True, True]
        assert (fps.words[1:] == plain.words).all() and (fps.sizes[1:] == plain.sizes).all()
    assert time.perf_counter() - start < 15
