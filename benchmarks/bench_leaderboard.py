"""Leaderboard speed: bootstrap intervals (ours, vectorised, vs the reference approach of re-running corpus BLEU per
resample), and whole-process rebuilds of the published boards, cold (empty cache) and warm.

    python benchmarks/bench_leaderboard.py bootstrap      # 1,000 resamples of MolT5-large's captions, both ways
    python benchmarks/bench_leaderboard.py rebuild        # leaderboards/rebuild with an empty, then a warm cache

Needs ../shared/data (released outputs, ChEBI-20 test) beside the checkout.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def _env(cache: str) -> dict:
    return {
        **os.environ,
        "ICMA_BENCH_CACHE": cache,
        "NLTK_DATA": str(SHARED / "nltk_data"),
        "ICMA_BENCH_SCIBERT": str(SHARED / "scibert_scivocab_uncased"),
        "ICMA_BENCH_T5_TOKENIZER": str(SHARED / "molt5_t5_tokenizer"),
        "HF_HUB_OFFLINE": "1",
        "ICMA_BENCH_OFFLINE": "1",
    }


def bench_bootstrap(resamples: int) -> None:
    os.environ.update({k: v for k, v in _env(tempfile.mkdtemp()).items() if k != "ICMA_BENCH_CACHE"})
    import numpy as np

    from icma_bench.leaderboard.bootstrap import (
        BootstrapConfig,
        resample_bleu,
        resample_metric,
        resample_weights,
    )
    from icma_bench.metrics import compute
    from icma_bench.metrics.bleu import compute_corpus_bleu
    from icma_bench.predictions import load_pairs

    pairs = load_pairs(
        SHARED / "released_outputs" / "molt5" / "molt5-large-smiles2caption.txt", "mol2caption"
    )
    result = compute("mol2caption", pairs.predictions, pairs.references, per_item=True)
    n = len(pairs.predictions)
    ngrams, rouge = result.ngrams["molt5"], np.array(result.items["molt5"]["rougeL"])
    config = BootstrapConfig(resamples=resamples)

    start = time.perf_counter()
    weights = resample_weights(n, config)
    ours = resample_bleu(ngrams, weights, (0.25,) * 4)
    resample_metric(rouge, weights)
    t_ours = time.perf_counter() - start

    # The reference approach: draw each resample's documents and run corpus BLEU (NLTK's arithmetic) on them.
    start = time.perf_counter()
    counts = [[(int(r[k]), int(r[4 + k])) for k in range(4)] for r in ngrams]
    ref = []
    for b in range(resamples):
        idx = np.repeat(np.arange(n), weights[b].astype(int))
        ref.append(
            compute_corpus_bleu([counts[i] for i in idx], ngrams[idx, 8], ngrams[idx, 9], [(0.25,) * 4])[0]
        )
        float(np.mean(rouge[idx]))
    t_ref = time.perf_counter() - start
    diff = float(np.max(np.abs(np.array(ref) - ours)))
    print(f"{n} documents, {resamples} resamples (BLEU-4 + ROUGE-L)")
    print(f"  ours (weight matrix @ n-gram counts): {t_ours:.3f} s")
    print(f"  per-resample corpus BLEU loop:        {t_ref:.3f} s  ({t_ref / t_ours:.0f}x)")
    print(f"  max |difference| of the 1,000 BLEU-4 values: {diff:.2e}")


def bench_rebuild() -> None:
    cache = tempfile.mkdtemp(prefix="board-cache-")
    for label in ("cold (empty cache)", "warm"):
        start = time.perf_counter()
        subprocess.run([str(REPO / "leaderboards" / "rebuild")], check=True, env=_env(cache), cwd=REPO)
        print(f"leaderboards/rebuild, {label}: {time.perf_counter() - start:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=("bootstrap", "rebuild"))
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    if args.what == "bootstrap":
        bench_bootstrap(args.resamples)
    else:
        bench_rebuild()
    return 0


if __name__ == "__main__":
    sys.exit(main())
