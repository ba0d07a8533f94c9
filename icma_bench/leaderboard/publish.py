"""Build a board folder from inputs, and check that a published folder is up to date with its inputs.

A board folder holds ``board.json`` (the data), ``README.md`` (Markdown tables), ``board.csv``, ``index.html`` (the
static page) and ``plots/`` (score-vs-parameters figures, PNG and SVG). ``board.json`` records every input file it
was built from with its sha256 (released outputs as ``$RELEASED/...``, other paths relative to the board folder), so
:func:`check_published` can tell, without re-scoring, whether any input changed since the build and whether every
rendered file still equals a rendering of ``board.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from icma_bench.files import write_atomic
from icma_bench.leaderboard.bootstrap import BootstrapConfig
from icma_bench.leaderboard.collect import collect_inputs
from icma_bench.leaderboard.sources import RELEASED_PREFIX, BoardInputError
from icma_bench.leaderboard.tables import render_csv, render_json, render_markdown

logger = logging.getLogger(__name__)

TEXT_OUTPUTS = {"README.md": render_markdown, "board.csv": render_csv}


def _html(board: dict) -> str:
    from icma_bench.leaderboard.html import render_html

    return render_html(board)


@dataclass
class BuildOptions:
    released: Path | None = None
    data_paths: dict[str, Path] = field(default_factory=dict)
    overlap: Path | None = None
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    plots: bool = True
    use_cache: bool = True
    show_progress: bool = False


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _portable(path: Path, out_dir: Path, released: Path | None) -> str:
    path = Path(path).resolve()
    if released is not None:
        try:
            return RELEASED_PREFIX + path.relative_to(Path(released).resolve()).as_posix()
        except ValueError:
            pass
    return Path(os.path.relpath(path, Path(out_dir).resolve())).as_posix()


def _input_record(files: list[Path], out_dir: Path, released: Path | None) -> list[dict]:
    seen = {}
    for f in files:
        key = _portable(f, out_dir, released)
        seen.setdefault(key, _file_sha256(f))
    return [{"path": k, "sha256": v} for k, v in sorted(seen.items())]


def write_board(board: dict, out_dir: Path, *, plots: bool = True) -> list[Path]:
    """Write every rendering of ``board`` into ``out_dir`` (atomic writes); returns the files written."""
    out_dir = Path(out_dir)
    written = []
    payloads = {"board.json": render_json(board), **{n: f(board) for n, f in TEXT_OUTPUTS.items()}}
    payloads["index.html"] = _html(board)
    for name, text in payloads.items():
        write_atomic(out_dir / name, text)
        written.append(out_dir / name)
    if plots:
        from icma_bench.leaderboard.plots import write_plots

        # Rows scored on a subset of the documents (e.g. the fine-tuning miniature) are not comparable: not plotted.
        full = [r for r in board["rows"] if r.get("n_documents") in (None, board.get("n_documents"))]
        written += write_plots({**board, "rows": full}, out_dir / "plots")
    return written


def build(inputs: list[Path], out_dir: Path, options: BuildOptions) -> dict[str, list[Path]]:
    """Collect, score and render. One dataset's board goes to ``out_dir``; several to ``out_dir/<dataset>/``."""
    from icma_bench.leaderboard.board import build_boards
    from icma_bench.leaderboard.overlap import contamination

    collected = collect_inputs(inputs, released=options.released)
    contaminated = {}
    files = list(collected.files)
    if options.overlap is not None:
        try:
            contaminated = contamination(json.loads(Path(options.overlap).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BoardInputError(f"{options.overlap}: not an overlap table ({exc})") from None
        files.append(Path(options.overlap))
    boards = build_boards(
        collected,
        config=options.bootstrap,
        data_paths=options.data_paths,
        contaminated=contaminated,
        use_cache=options.use_cache,
        show_progress=options.show_progress,
    )
    out = {}
    for dataset, board in boards.items():
        target = Path(out_dir) if len(boards) == 1 else Path(out_dir) / dataset
        board["build"] = {
            "inputs": _input_record(files, target, options.released),
            "command_inputs": [_portable(p, target, options.released) for p in inputs],
        }
        out[dataset] = write_board(board, target, plots=options.plots)
    return out


def check_published(out_dir: Path, *, released: Path | None = None) -> list[str]:
    """Problems that make a published board folder out of date (empty list: up to date)."""
    out_dir = Path(out_dir)
    try:
        board = json.loads((out_dir / "board.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{out_dir / 'board.json'}: unreadable ({exc})"]
    problems = []
    for entry in board.get("build", {}).get("inputs", []):
        raw = entry["path"]
        if raw.startswith(RELEASED_PREFIX):
            if released is None:
                problems.append(f"{raw}: cannot check without the released-outputs folder (--released)")
                continue
            path = Path(released) / raw[len(RELEASED_PREFIX) :]
        else:
            path = out_dir / raw
        if not path.is_file():
            problems.append(f"{raw}: input missing")
        elif _file_sha256(path) != entry["sha256"]:
            problems.append(f"{raw}: input changed since the board was built (rebuild it)")
    recorded = {p.resolve() for p in _recorded_inputs(board, out_dir, released)}
    for raw in board.get("build", {}).get("command_inputs", []):
        root = out_dir / raw
        if root.is_dir():
            for f in sorted(root.rglob("*")):
                if f.is_file() and _is_input(f) and f.resolve() not in recorded:
                    problems.append(f"{f}: a new input the board was not built from (rebuild it)")
    expected = {"board.json": render_json(board), **{n: f(board) for n, f in TEXT_OUTPUTS.items()}}
    expected["index.html"] = _html(board)
    for name, text in expected.items():
        path = out_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            problems.append(
                f"{path}: differs from a rendering of board.json (rebuild it; never edit by hand)"
            )
    return problems


def _is_input(path: Path) -> bool:
    name = path.name
    return (name.startswith("results_") and name.endswith(".json")) or (
        path.suffix in (".yaml", ".yml") and name != "row.yaml"
    )


def _recorded_inputs(board: dict, out_dir: Path, released: Path | None) -> list[Path]:
    out = []
    for entry in board.get("build", {}).get("inputs", []):
        raw = entry["path"]
        if raw.startswith(RELEASED_PREFIX):
            if released is not None:
                out.append(Path(released) / raw[len(RELEASED_PREFIX) :])
        else:
            out.append(out_dir / raw)
    return out
