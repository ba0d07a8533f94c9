"""Shared fixtures. Tests are CPU-only and offline; resources come from ../shared beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO.parent / "shared" / "data").resolve()
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Offline resources for every test (set before any library reads them).
os.environ.setdefault("NLTK_DATA", str(SHARED_DATA / "nltk_data"))
os.environ.setdefault("ICMA_BENCH_SCIBERT", str(SHARED_DATA / "scibert_scivocab_uncased"))
os.environ.setdefault("ICMA_BENCH_T5_TOKENIZER", str(SHARED_DATA / "molt5_t5_tokenizer"))
os.environ.setdefault("ICMA_BENCH_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own user cache so nothing leaks between tests or from the developer's machine."""
    monkeypatch.setenv("ICMA_BENCH_CACHE", str(tmp_path_factory.mktemp("icma_cache")))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; skips the test with a clear reason when it is absent."""
    if not (SHARED_DATA / "chebi20" / "molt5" / "test.txt").is_file():
        pytest.skip(f"shared data not found at {SHARED_DATA} (expected ../shared/data beside the checkout)")
    return SHARED_DATA
