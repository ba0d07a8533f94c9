"""Cost of the per-molecule bound on normal scoring, and the pathological SMILES with and without it.

Normal path: ``compute("caption2mol", ...)`` in-process on MolT5-large's 3,300 released ChEBI-20 test outputs, the
references' features cached (a warm run), bound on (default) vs off, alternating; medians reported. Also how many
outputs / references fail the cheap screen (and so go through the guarded child).

    python benchmarks/bench_guard.py [--runs 5] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    os.environ["ICMA_BENCH_CACHE"] = tempfile.mkdtemp(prefix="icma_bench_guard_")
    sys.path.insert(0, str(REPO))
    from rdkit import Chem, RDLogger

    from icma_bench.chem import passes_screen
    from icma_bench.cli.score import load_pairs
    from icma_bench.metrics import compute

    RDLogger.DisableLog("rdApp.*")
    pairs = load_pairs(
        args.data / "released_outputs" / "molt5" / "molt5-large-caption2smiles.txt", "caption2mol"
    )
    for what, texts in (("outputs", pairs.predictions), ("references", pairs.references)):
        risky = sum(not passes_screen(s, Chem.MolFromSmiles(s) if passes_screen(s) else None) for s in texts)
        print(f"{what}: {risky} of {len(texts)} fail the cheap screen")
    on = {"n_jobs": 1}
    off = {"n_jobs": 1, "molecule_time_limit": None, "molecule_memory_limit": None}
    ref_on = compute("caption2mol", pairs.predictions, pairs.references, **on)  # warm both reference caches
    ref_off = compute("caption2mol", pairs.predictions, pairs.references, **off)
    assert ref_on.scores == ref_off.scores, "the bound changed a number"
    times = {"on": [], "off": []}
    for _ in range(args.runs):
        for name, kw in (("on", on), ("off", off)):
            t = time.perf_counter()
            compute("caption2mol", pairs.predictions, pairs.references, **kw)
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"compute caption2mol, n_jobs=1, warm: bound on {med['on']:.3f} s, off {med['off']:.3f} s "
        f"(x{med['on'] / med['off']:.3f}); runs: {times}"
    )


if __name__ == "__main__":
    main()
