"""A tiny fork-based worker pool: split a list into ordered chunks, map a module-level function over them.

Workers inherit read-only state (memo tables, cached features) from the parent by ``fork``, so nothing large is
pickled. Where ``fork`` is unavailable (Windows, macOS' default), or the input is small, work runs in-process.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# Below this many items, starting processes costs more than it saves.
MIN_PARALLEL_ITEMS = 400


def resolve_n_jobs(n_jobs: int | None, n_items: int) -> int:
    """``None`` -> every available core when the input is big enough, else 1; ``<= 0`` -> every core."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    if n_jobs is None:
        return cores if n_items >= MIN_PARALLEL_ITEMS else 1
    if n_jobs <= 0:
        return cores
    return n_jobs


def map_chunks(
    fn: Callable[[Sequence[T]], list[R]],
    items: Sequence[T],
    *,
    n_jobs: int,
    desc: str = "",
    show_progress: bool = False,
) -> list[R]:
    """Apply ``fn`` (list of items -> list of results, same length) over ``items`` in order."""
    if not items:
        return []
    if n_jobs <= 1 or "fork" not in mp.get_all_start_methods():
        out: list[R] = []
        step = max(1, len(items) // 20)
        with tqdm(total=len(items), desc=desc, disable=not show_progress, leave=False) as bar:
            for start in range(0, len(items), step):
                out.extend(fn(items[start : start + step]))
                bar.update(min(step, len(items) - start))
        return out
    n_chunks = min(len(items), n_jobs * 8)
    size = -(-len(items) // n_chunks)
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    # NOTE: tokenizers warns in every forked child once its thread pool has run; the children never tokenize.
    unset = "TOKENIZERS_PARALLELISM" not in os.environ
    if unset:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:
        ctx = mp.get_context("fork")
        with (
            ctx.Pool(n_jobs) as pool,
            tqdm(total=len(items), desc=desc, disable=not show_progress, leave=False) as bar,
        ):
            results: list[Any] = []
            for part in pool.imap(fn, chunks):
                results.extend(part)
                bar.update(len(part))
    finally:
        if unset:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
    return results
