"""The leaderboard as one self-contained static HTML page (inline CSS and vanilla JS, no network, opens from file://).

The page embeds ``board.json`` (:mod:`icma_bench.leaderboard.schema`) in a ``<script type="application/json">``
element and draws everything from it in the browser: one sortable, filterable table per task and the
score-vs-parameters plots (inline SVG) of every headline metric. The script and style sheet are package files
(``assets/board.js``, ``assets/board.css``). Board strings never become markup: the JSON is escaped so that no
string can close its element, the script inserts data with ``textContent`` only, and a Content-Security-Policy that
admits only the page's own script (by hash) blocks anything that got through anyway.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
from importlib import resources

logger = logging.getLogger(__name__)

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<link rel="icon" href="data:,">
<title>{title}</title>
<style>
{css}
</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p class="meta">{meta}</p>
<p class="legend" id="legend"><strong>Bold</strong>: best of its task and convention (measured rows only).
<span class="tied">\u2248</span>: not significantly different from the best, paired bootstrap{bootstrap}.
Small numbers under a score: its 95% interval (also on hover). <em>Italic rows</em>: numbers reported in papers
(no interval, never marked best). \u2191 higher is better, \u2193 lower is better. Click a column header to sort,
click \u25b8 (or hover a row) for its provenance. Plots: filled markers measured, hollow markers reported; models of
unknown size (API) sit in the strip labelled \u201cAPI, size unknown\u201d, never on the size axis.</p>
<div id="filters" role="group" aria-label="filters"></div>
</header>
<main id="tasks"></main>
<noscript>This page draws its tables and plots with JavaScript; the same data is in board.json.</noscript>
<script type="application/json" id="board-data">{data}</script>
<script>{js}</script>
</body>
</html>
"""


def _asset(name: str) -> str:
    return resources.files("icma_bench.leaderboard").joinpath("assets", name).read_text(encoding="utf-8")


def embed_json(board: dict) -> str:
    """``board`` as JSON that is safe inside a ``<script>`` element.

    ``<``, ``>`` and ``&`` only occur inside JSON strings, where ``\\u003c`` etc. mean the same characters: no
    string can spell ``</script>`` or ``<!--``, and ``JSON.parse`` returns the board unchanged.
    """
    text = json.dumps(board, ensure_ascii=False, allow_nan=False)
    for char in "<>&\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def render_html(board: dict) -> str:
    """One static HTML page of ``board`` (a ``board.json`` dict): tables, filters and plots, no network needed."""
    js, css = _asset("board.js"), _asset("board.css")
    if "</script" in js.lower() or "</style" in css.lower():
        raise ValueError("board.js / board.css must not contain a closing </script> or </style> tag")
    digest = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode("ascii")
    csp = (
        "default-src 'none'; "
        f"script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
    )
    dataset, split = board.get("dataset", "?"), board.get("split", "?")
    title = f"icma-bench leaderboard: {dataset} {split}"
    built = ", ".join(f"{k} {v}" for k, v in sorted((board.get("built_with") or {}).items()))
    n_docs = board.get("n_documents")
    meta = f"{len(board.get('rows', []))} rows" + (f", {n_docs} documents" if n_docs else "")
    meta += f"; schema {board.get('schema', '?')}" + (f"; built with {built}" if built else "")
    boot = board.get("bootstrap") or {}
    bootstrap = ""
    if boot.get("resamples"):
        bootstrap = f" ({boot['resamples']} resamples, \u03b1 = {boot.get('alpha', 0.05)})"
    page = _TEMPLATE.format(
        csp=csp,
        title=html.escape(title),
        meta=html.escape(meta),
        bootstrap=html.escape(bootstrap),
        css=css,
        data=embed_json(board),
        js=js,
    )
    logger.debug("rendered the HTML page of %s/%s: %d rows", dataset, split, len(board.get("rows", [])))
    return page
