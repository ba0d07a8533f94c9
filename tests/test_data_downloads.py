"""Verified downloads (pinned URLs, git blob SHA-1, size cap, atomic placement) and local-file verification.

Everything runs against a local HTTP server on 127.0.0.1 or a fake ``urlopen``: no test touches the internet.
"""

from __future__ import annotations

import dataclasses
import http.server
import logging
import os
import subprocess
import threading
from pathlib import Path

import pytest

from icma_bench import data, downloads
from icma_bench.data import DataNotFoundError, load_split
from icma_bench.downloads import DownloadError, download_verified, file_blob_sha1, git_blob_sha1

FIX = Path(__file__).parent / "fixtures" / "data"
TINY = (FIX / "tiny.txt").read_bytes()


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[bytes, int | None]] = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        body, declared = self.routes.get(self.path, (b"", None))
        if self.path not in self.routes:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        if declared is not None:
            self.send_header("Content-Length", str(declared))
        self.end_headers()
        self.wfile.write(body)  # shorter than declared: the connection then drops mid-file

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.routes = {}
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler.routes
    httpd.shutdown()
    httpd.server_close()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_git_blob_sha1_is_git_hash_object(tmp_path):
    p = tmp_path / "f.txt"
    p.write_bytes(TINY)
    try:
        expected = subprocess.run(
            ["git", "hash-object", str(p)], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git not available")
    assert git_blob_sha1(TINY) == file_blob_sha1(p) == expected
    assert git_blob_sha1(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git's empty blob


def test_every_registered_split_is_pinned_and_content_hashed():
    for spec in data.DATASETS.values():
        for split, source in spec.splits.items():
            assert "/main/" not in source.url and "/master/" not in source.url
            assert data.MOLT5_COMMIT in source.url or data.ICMA_COMMIT in source.url
            assert source.url.endswith(f"/{split}.txt")
            assert source.blob_sha1 and len(source.blob_sha1) == 40


def test_download_over_http_verifies_and_places_atomically(server, tmp_path):
    base, routes = server
    routes["/ok.txt"] = (TINY, len(TINY))
    dest = tmp_path / "cache" / "test.txt"
    download_verified(f"{base}/ok.txt", dest, blob_sha1=git_blob_sha1(TINY))
    assert dest.read_bytes() == TINY
    assert _leftovers(dest.parent) == ["test.txt"]


def test_hash_mismatch_is_refused_and_leaves_nothing(server, tmp_path):
    base, routes = server
    routes["/evil.txt"] = (TINY + b"4\tC\tinjected\n", None)
    dest = tmp_path / "cache" / "test.txt"
    with pytest.raises(DownloadError, match=r"git blob SHA-1 [0-9a-f]{40}, expected 0{40}"):
        download_verified(f"{base}/evil.txt", dest, blob_sha1="0" * 40)
    assert _leftovers(dest.parent) == []


@pytest.mark.parametrize("declared", [True, False])
def test_oversize_is_refused(server, tmp_path, monkeypatch, declared):
    base, routes = server
    body = b"x" * 5000
    routes["/big.txt"] = (body, len(body) if declared else None)
    monkeypatch.setattr(downloads, "MAX_DOWNLOAD_BYTES", 4096)
    dest = tmp_path / "cache" / "test.txt"
    with pytest.raises(DownloadError, match="4,096-byte limit|limit 4,096 bytes"):
        download_verified(f"{base}/big.txt", dest, blob_sha1=git_blob_sha1(body))
    assert _leftovers(dest.parent) == []


def test_dropped_connection_leaves_nothing(server, tmp_path):
    base, routes = server
    routes["/cut.txt"] = (TINY[:20], len(TINY))  # the server promises more than it sends
    dest = tmp_path / "cache" / "test.txt"
    with pytest.raises(DownloadError, match="interrupted|connection closed"):
        download_verified(f"{base}/cut.txt", dest, blob_sha1=git_blob_sha1(TINY))
    assert _leftovers(dest.parent) == []


def test_interrupt_mid_download_leaves_nothing(tmp_path, monkeypatch):
    class Response:
        headers: dict = {}
        calls = 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, n):
            Response.calls += 1
            if Response.calls > 1:
                raise KeyboardInterrupt
            return TINY[:10]

    monkeypatch.setattr(downloads.urllib.request, "urlopen", lambda url, timeout: Response())
    dest = tmp_path / "cache" / "test.txt"
    with pytest.raises(KeyboardInterrupt):
        download_verified("https://example.invalid/test.txt", dest, blob_sha1=git_blob_sha1(TINY))
    assert _leftovers(dest.parent) == []


def test_unhashed_source_is_refused(server, tmp_path):
    base, routes = server
    routes["/ok.txt"] = (TINY, None)
    with pytest.raises(DownloadError, match="no content hash"):
        download_verified(f"{base}/ok.txt", tmp_path / "t.txt", blob_sha1=None)
    assert not (tmp_path / "t.txt").exists()


def _register(monkeypatch, url: str, blob: str, rows: int = 3):
    spec = data.DATASETS["chebi20"]
    splits = dict(spec.splits)
    splits["test"] = data.SplitSource(url, rows, None, blob)
    monkeypatch.setitem(data.DATASETS, "chebi20", dataclasses.replace(spec, splits=splits))
    for env in ("ICMA_BENCH_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", data.DATA_ENV):
        monkeypatch.delenv(env, raising=False)


def test_load_split_downloads_over_http(server, monkeypatch):
    base, routes = server
    routes["/test.txt"] = (TINY, len(TINY))
    _register(monkeypatch, f"{base}/test.txt", git_blob_sha1(TINY))
    recs = load_split("chebi20", "test")
    assert len(recs) == 3 and all(r.verified is True for r in recs)


def test_load_split_refuses_tampered_download(server, monkeypatch):
    base, routes = server
    routes["/test.txt"] = (TINY.replace(b"CCO", b"CCN"), None)
    _register(monkeypatch, f"{base}/test.txt", git_blob_sha1(TINY))
    with pytest.raises(DataNotFoundError, match="content does not match"):
        load_split("chebi20", "test")
    assert _leftovers(data.cache_dir() / "chebi20") == []


def test_damaged_cached_copy_is_replaced(server, monkeypatch, caplog):
    base, routes = server
    routes["/test.txt"] = (TINY, None)
    _register(monkeypatch, f"{base}/test.txt", git_blob_sha1(TINY))
    cached = data.cache_dir() / "chebi20" / "test.txt"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(TINY.replace(b"ethanol", b"methanol"))
    with caplog.at_level(logging.WARNING):
        recs = load_split("chebi20", "test")
    assert cached.read_bytes() == TINY and recs[0].verified is True
    assert "damaged" in caplog.text


def test_local_copy_is_verified_and_a_modified_one_warns(tmp_path, monkeypatch, caplog):
    _register(monkeypatch, "https://example.invalid/test.txt", git_blob_sha1(TINY))
    folder = tmp_path / "chebi20"
    folder.mkdir()
    (folder / "test.txt").write_bytes(TINY)
    assert all(r.verified is True for r in load_split("chebi20", "test", tmp_path))
    modified = TINY + b"9\tC\tmethane\n"
    (folder / "test.txt").write_bytes(modified)
    os.utime(folder / "test.txt", ns=(1, 1))  # a new mtime and size: the hash is recomputed
    with caplog.at_level(logging.WARNING):
        recs = load_split("chebi20", "test", tmp_path)
    assert len(recs) == 4 and all(r.verified is False for r in recs)
    assert str(folder / "test.txt") in caplog.text
    assert git_blob_sha1(modified) in caplog.text and git_blob_sha1(TINY) in caplog.text
    # Another name (a partial or derived file) is nothing to compare with: unchecked, no warning.
    (tmp_path / "test_partial.tsv").write_bytes(modified)
    assert load_split("chebi20", "test", tmp_path / "test_partial.tsv")[0].verified is None


def test_blob_hash_is_cached_by_size_and_mtime(tmp_path, monkeypatch):
    p = tmp_path / "test.txt"
    p.write_bytes(TINY)
    first = file_blob_sha1(p)
    opened = []
    real_open = Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: opened.append(self) or real_open(self, *a, **k))
    assert file_blob_sha1(p) == first and opened == []


def test_shared_splits_match_their_blob_hashes(shared_data):
    for dataset in ("chebi20", "pubchem324k"):
        for split in ("test", "validation"):
            recs = load_split(dataset, split, shared_data)
            assert recs[0].verified is True, (dataset, split)
