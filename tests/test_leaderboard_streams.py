"""Board inputs are read as bounded streams: a compression bomb is refused, never decompressed whole."""

from __future__ import annotations

import gzip
import time

import pytest

from icma_bench.leaderboard.sources import BoardInputError
from icma_bench.leaderboard.streams import iter_text_lines


def test_plain_and_gzip_files_give_the_same_lines(tmp_path):
    text = 'a\n{"x": "\u00e9"}\n\nlast'
    plain = tmp_path / "s.jsonl"
    plain.write_text(text, encoding="utf-8")
    packed = tmp_path / "s.jsonl.gz"
    packed.write_bytes(gzip.compress(text.encode("utf-8")))
    expected = [(1, "a"), (2, '{"x": "\u00e9"}'), (3, ""), (4, "last")]
    assert list(iter_text_lines(plain)) == list(iter_text_lines(packed)) == expected


def test_caps_on_total_and_line_size_name_the_file(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text("x" * 10 + "\n" + "y" * 10 + "\n", encoding="utf-8")
    with pytest.raises(BoardInputError, match=r"s.jsonl: more than 15 bytes"):
        list(iter_text_lines(path, max_bytes=15))
    with pytest.raises(BoardInputError, match=r"s.jsonl:1: a line longer than 5 bytes"):
        list(iter_text_lines(path, max_line_bytes=5))


def test_a_gzip_bomb_is_refused_quickly(tmp_path):
    bomb = tmp_path / "samples_icma_chebi20_mol2caption_x.jsonl.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        chunk = b"0" * (1 << 20)
        for _ in range(80):  # 80 MiB on one line, a few hundred KB on disk
            fh.write(chunk)
    assert bomb.stat().st_size < 1 << 20
    start = time.perf_counter()
    with pytest.raises(BoardInputError, match=r":1: a line longer than"):
        list(iter_text_lines(bomb))
    assert time.perf_counter() - start < 10


def test_broken_gzip_and_utf8_are_one_line_errors(tmp_path):
    bad = tmp_path / "s.jsonl.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(BoardInputError, match="cannot read"):
        list(iter_text_lines(bad))
    latin = tmp_path / "l.jsonl"
    latin.write_bytes(b"ok\n\xff\n")
    with pytest.raises(BoardInputError, match=r"l.jsonl:2: not valid UTF-8"):
        list(iter_text_lines(latin))
