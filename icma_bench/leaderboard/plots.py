"""Score-vs-parameters figures of a board (matplotlib, Agg), one small function per figure part, as in MTEB's
``leaderboard/figures.py``.

Per task and metric convention, one figure with a panel per headline metric: parameters on a log x axis, one line
per model family (and method), 95 % intervals as error bars, weight-free baselines as dashed reference lines, the
Pareto front of measured rows, and a narrow strip
on the right for models of unknown size ("API, size unknown"), which are never placed on the size axis. Measured
rows are filled markers, reported (paper) rows hollow. Output is byte-for-byte reproducible (fixed SVG hash salt, no
dates, no software tag) so that CI can check that published figures are up to date. matplotlib is imported inside
:func:`write_plots`, so importing this module is cheap.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from pathlib import Path

from icma_bench.files import write_atomic
from icma_bench.leaderboard.schema import format_params

logger = logging.getLogger(__name__)

# Okabe-Ito first, then matplotlib's tab20 hues: distinct colours for up to 20 families.
_PALETTE = (
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#7F7F7F", "#000000",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5",
    "#8c564b", "#bcbd22", "#17becf",
)  # fmt: skip
_RC = {
    "svg.hashsalt": "icma-bench",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_METADATA = {
    "svg": {"Date": None, "Creator": None},
    "png": {"Software": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
}


def _value(row: dict, metric: str) -> dict | None:
    score = (row.get("scores") or {}).get(metric)
    return score if score and isinstance(score.get("value"), (int, float)) else None


def _colors(board: dict) -> dict[str, str]:
    families = sorted({str(r.get("family")) for r in board.get("rows", [])})
    return {f: _PALETTE[i % len(_PALETTE)] for i, f in enumerate(families)}


def _draw_point(ax, x: float, row: dict, score: dict, color: str) -> None:
    low, high = score.get("low"), score.get("high")
    reported = row.get("kind") == "reported"
    if isinstance(low, (int, float)) and isinstance(high, (int, float)):
        err = [[score["value"] - low], [high - score["value"]]]
        ax.errorbar(
            [x], [score["value"]], yerr=err, fmt="none", ecolor=color, elinewidth=1, capsize=2, zorder=2
        )
    ax.plot(
        [x],
        [score["value"]],
        marker="o",
        markersize=5,
        linestyle="none",
        markeredgecolor=color,
        markerfacecolor="white" if reported else color,
        zorder=3,
    )


def _family_lines(ax, rows: list[dict], metric: str, colors: dict[str, str]) -> None:
    """One line per (family, method, kind), sorted by size; reported series dashed."""
    series: dict[tuple, list[tuple[int, float]]] = {}
    for row in rows:
        score = _value(row, metric)
        if score and row.get("params") is not None:
            key = (str(row.get("family")), str(row.get("method")), str(row.get("kind")))
            series.setdefault(key, []).append((row["params"], score["value"]))
    for (family, _, kind), points in sorted(series.items()):
        if len(points) > 1:
            xs, ys = zip(*sorted(points), strict=True)
            style = "--" if kind == "reported" else "-"
            ax.plot(xs, ys, style, color=colors[family], linewidth=1.2, alpha=0.8, zorder=1)


def _pareto_front(ax, rows: list[dict], metric: str, higher_is_better: bool) -> None:
    """The best score reachable at or below each size (measured rows with a size)."""
    points = sorted(
        (r["params"], _value(r, metric)["value"])
        for r in rows
        if r.get("kind") == "measured" and r.get("params") is not None and _value(r, metric)
    )
    front: list[tuple[int, float]] = []
    for x, y in points:
        if not front or (y > front[-1][1] if higher_is_better else y < front[-1][1]):
            front.append((x, y))
    if len(front) > 1:
        xs, ys = zip(*front, strict=True)
        ax.step(xs, ys, where="post", color="#999999", linewidth=0.8, linestyle=":", zorder=0)


def _size_limits(rows: list[dict], specs: list[dict]) -> tuple[float, float]:
    """One x range for every panel of a figure: all sizes with a value, padded, at least one decade wide."""
    sizes = [
        r["params"] for r in rows if r.get("params") is not None and any(_value(r, m["name"]) for m in specs)
    ]
    lo, hi = (min(sizes), max(sizes)) if sizes else (1e8, 1e9)
    if hi / lo < 10:
        mid = (lo * hi) ** 0.5
        lo, hi = mid / 10**0.5, mid * 10**0.5
    return lo / 10**0.15, hi * 10**0.15


def _size_panel(ax, rows: list[dict], spec: dict, colors: dict[str, str], pareto: bool, xlim) -> None:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_xscale("log")
    _family_lines(ax, rows, spec["name"], colors)
    if pareto:
        _pareto_front(ax, rows, spec["name"], spec["higher_is_better"])
    for row in rows:
        score = _value(row, spec["name"])
        if score and row.get("method") == "baseline":
            # Weight-free baselines have no size: a reference line across the size axis, never a point.
            ax.axhline(
                score["value"], color=colors[str(row.get("family"))], linewidth=0.9, linestyle=(0, (2, 2))
            )
        elif score and row.get("params") is not None:
            _draw_point(ax, row["params"], row, score, colors[str(row.get("family"))])
    arrow = "\u2191" if spec["higher_is_better"] else "\u2193"
    ax.set_xlim(*xlim)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: format_params(int(round(x)))))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_title(f"{spec['label']} {arrow}")
    ax.set_xlabel("parameters (log scale)")
    ax.grid(True, which="major", color="#eeeeee", linewidth=0.6)


def _api_panel(ax, rows: list[dict], metric: str, colors: dict[str, str]) -> None:
    api = [r for r in rows if r.get("params") is None and r.get("method") != "baseline" and _value(r, metric)]
    for i, row in enumerate(sorted(api, key=lambda r: str(r.get("model")))):
        _draw_point(ax, i + 1, row, _value(row, metric), colors[str(row.get("family"))])
    ax.set_xlim(0, len(api) + 1)
    ax.set_xticks([])
    ax.set_xlabel("API,\nsize unknown")
    ax.set_facecolor("#f3f3f3")
    ax.tick_params(axis="y", labelleft=False)


def _legend(fig, rows: list[dict], colors: dict[str, str], pareto: bool) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=colors[f], marker="o", linestyle="-", label=f)
        for f in sorted({str(r.get("family")) for r in rows})
    ]
    handles += [
        Line2D([], [], color="#333333", marker="o", linestyle="none", label="measured"),
        Line2D(
            [], [], color="#333333", marker="o", markerfacecolor="white", linestyle="none", label="reported"
        ),
    ]
    if any(r.get("method") == "baseline" for r in rows):
        handles.append(Line2D([], [], color="#333333", linestyle=(0, (2, 2)), label="weight-free baseline"))
    if pareto:
        handles.append(Line2D([], [], color="#999999", linestyle=":", label="Pareto front (measured)"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), frameon=False, fontsize=7)


def _performance_size_figure(board: dict, task: str, convention: str, rows: list[dict], pareto: bool):
    from matplotlib.figure import Figure

    specs = [m for m in board["metrics"][task] if m.get("headline")]
    colors = _colors(board)
    xlim = _size_limits(rows, specs)
    has_api = any(
        r.get("params") is None and r.get("method") != "baseline" and any(_value(r, m["name"]) for m in specs)
        for r in rows
    )
    # A fixed layout: constrained layout's solver does not place axes bit-identically from run to run, and the SVG
    # clip-path ids hash the axes' positions.
    width = 3.1 * len(specs)
    fig = Figure(figsize=(width, 3.4))
    outer = fig.add_gridspec(
        1, len(specs), left=0.6 / width, right=1 - 0.35 / width, bottom=0.3, top=0.84, wspace=0.3
    )
    for i, spec in enumerate(specs):
        if has_api:
            inner = outer[i].subgridspec(1, 2, width_ratios=(5, 1), wspace=0.04)
            ax = fig.add_subplot(inner[0])
            _size_panel(ax, rows, spec, colors, pareto, xlim)
            _api_panel(fig.add_subplot(inner[1], sharey=ax), rows, spec["name"], colors)
        else:
            _size_panel(fig.add_subplot(outer[i]), rows, spec, colors, pareto, xlim)
    fig.suptitle(f"{board.get('dataset', '')} {task}, {convention} convention: score vs parameters")
    _legend(fig, rows, colors, pareto)
    return fig


def _save(fig, dest: Path, fmt: str) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=150, metadata=_METADATA.get(fmt))
    write_atomic(dest, buf.getvalue())


def write_plots(
    board: dict, out_dir: Path, *, formats: Iterable[str] = ("png", "svg"), pareto: bool = True
) -> list[Path]:
    """Write ``<task>_<convention>_vs_params.<fmt>`` for every (task, convention) with a value; return the paths.

    A (task, convention) whose rows hold no headline value is skipped and logged.
    """
    from matplotlib import rc_context  # figures are built with matplotlib.figure.Figure: Agg, no pyplot state

    out_dir = Path(out_dir)
    written: list[Path] = []
    conventions = list(board.get("conventions") or {})
    for task in board["metrics"]:
        headline = [m["name"] for m in board["metrics"][task] if m.get("headline")]
        task_rows = [r for r in board.get("rows", []) if r.get("task") == task]
        for conv in conventions + sorted({r.get("convention") for r in task_rows} - set(conventions)):
            rows = [r for r in task_rows if r.get("convention") == conv]
            if not any(_value(r, m) for r in rows for m in headline):
                logger.info("no %s/%s row has a headline value: figure skipped", task, conv)
                continue
            with rc_context(_RC):
                fig = _performance_size_figure(board, task, conv, rows, pareto)
                for fmt in formats:
                    dest = out_dir / f"{task}_{conv}_vs_params.{fmt}"
                    _save(fig, dest, fmt)
                    written.append(dest)
                    logger.info("wrote %s", dest)
    return written
