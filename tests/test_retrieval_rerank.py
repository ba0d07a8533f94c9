"""Shot selection: top-n, the seeded random walk, and ICMA's bucket selection."""

from __future__ import annotations

import pytest

from icma_bench.retrieval.rerank import select_bucket_positions, select_positions, select_shots


def _icma_bucket(n_shot: int, start_pos: int = 0) -> list[int]:
    # ICMA RetrievalDataset (mol2cap branch, bucket_sampling=True) over its 10 candidates, transcribed.
    out, j, num_ex = [], start_pos, 0
    while num_ex < n_shot and j < 10:
        if (j - start_pos) % int((10 - start_pos) / n_shot) == 0:
            out.append(j)
            num_ex += 1
        j += 1
    return out


def test_p0_is_top_n():
    assert select_shots([9, 4, 7, 1], 2) == [9, 4]
    assert select_shots([9, 4, 7, 1], 6) == [9, 4, 7, 1]
    assert select_shots([9, 4], 0) == []


def test_random_walk_reproducible_per_query_and_never_short():
    row = list(range(100, 110))
    a = select_shots(row, 3, random_walk_p=0.5, seed=1, query_index=7)
    assert a == select_shots(row, 3, random_walk_p=0.5, seed=1, query_index=7)
    walks = {tuple(select_positions(10, 3, random_walk_p=0.5, seed=1, query_index=q)) for q in range(50)}
    assert len(walks) > 5  # different queries walk differently
    for q in range(200):
        pos = select_positions(10, 4, random_walk_p=0.9, seed=0, query_index=q)
        assert len(pos) == 4 and pos == sorted(set(pos))  # rank order, never fewer than n
    # with p close to 1 the walk still ends with the last n candidates available
    assert select_positions(5, 5, random_walk_p=0.99) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="random_walk_p"):
        select_positions(10, 2, random_walk_p=1.0)


@pytest.mark.parametrize("n_shot", [1, 2, 3, 4, 5, 6, 8, 10])
@pytest.mark.parametrize("start_pos", [0, 1, 2])
def test_bucket_matches_icma_loop(n_shot, start_pos):
    if n_shot > 10 - start_pos:
        with pytest.raises(ValueError, match="needs at least"):
            select_bucket_positions(10, n_shot, start_pos=start_pos)
        return
    assert select_bucket_positions(10, n_shot, start_pos=start_pos) == _icma_bucket(n_shot, start_pos)
