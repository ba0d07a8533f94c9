"""The leaderboard HTML page, driven in a real headless browser (Debian's chromium through playwright).

No browser or no playwright fails the test with the install command; only ``ICMA_BENCH_NO_BROWSER=1`` skips it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from icma_bench.leaderboard.html import embed_json, render_html
from icma_bench.leaderboard.schema import CONVENTIONS, SCHEMA, format_params, metric_specs

HOSTILE = "</script><img src=x onerror=alert(1)>"
M2C = ("bleu2", "bleu4", "rouge1", "rouge2", "rougeL", "meteor")
C2M = ("bleu", "exact_match", "levenshtein", "validity", "maccs_fts", "rdk_fts", "morgan_fts", "fcd")


def _scores(metrics, base, ci=True):
    out = {}
    for i, m in enumerate(metrics):
        v = round(base + 0.01 * i, 3)
        out[m] = {"value": v, "low": round(v - 0.01, 3), "high": round(v + 0.01, 3)} if ci else {"value": v}
        if not ci:
            out[m].update(low=None, high=None)
    return out


def _row(rid, task, model, family, params, base, **kw):
    metrics = M2C if task == "mol2caption" else C2M
    kind = kw.pop("kind", "measured")
    row = {
        "id": rid,
        "kind": kind,
        "task": task,
        "convention": kw.pop("convention", "molt5"),
        "model": model,
        "family": family,
        "params": params,
        "params_label": kw.pop("params_label", format_params(params)),
        "method": kw.pop("method", "in-context"),
        "shots": kw.pop("shots", 2),
        "retriever": "rdkit_fp",
        "training_data": "none",
        "training_flag": kw.pop("training_flag", "in-context only"),
        "decoding": "greedy",
        "source": kw.pop("source", {"name": "fixture", "url": "https://example.org/x", "file": "r.json"}),
        "caption_tokenizer": "SciBERT uncased",
        "signature": "" if kind == "reported" else "protocol:molt5|fixture",
        "scores": _scores(metrics, base, ci=kind == "measured"),
        "counts": {"n": 5, "invalid": 1},
        "best": kw.pop("best", []),
        "tied_with_best": kw.pop("tied_with_best", []),
        "reported_as": None,
        "notes": kw.pop("notes", ""),
    }
    assert not kw, kw
    return row


def fixture_board() -> dict:
    rows = [
        _row("gal-125m/m2c", "mol2caption", "Galactica-125M", "Galactica", 125_000_000, 0.20),
        _row("gal-1.3b/m2c", "mol2caption", "Galactica-1.3B", "Galactica", 1_300_000_000, 0.30),
        _row(
            "gal-6.7b/m2c", "mol2caption", "Galactica-6.7B", "Galactica", 6_700_000_000, 0.50, best=["bleu4"]
        ),
        _row(
            "molt5-small/m2c",
            "mol2caption",
            "MolT5-small",
            "MolT5",
            77_000_000,
            0.40,
            method="fine-tuned",
            training_flag="fine-tuned on this train",
            tied_with_best=["bleu4"],
        ),
        _row(
            "molt5-small/m2c/rep",
            "mol2caption",
            "MolT5-small",
            "MolT5",
            77_000_000,
            0.45,
            kind="reported",
            method="fine-tuned",
            training_flag="fine-tuned on this train",
        ),
        _row("gpt4/m2c", "mol2caption", "GPT-4", "GPT", None, 0.35),
        _row(
            "evil/m2c",
            "mol2caption",
            HOSTILE,
            HOSTILE,
            30_000_000_000,
            0.10,
            params_label="30B",
            notes="<b>bold?</b>",
            source={"name": HOSTILE, "url": "javascript:alert(2)", "file": HOSTILE},
        ),
        _row(
            "gal-125m/m2c/icma",
            "mol2caption",
            "Galactica-125M",
            "Galactica",
            125_000_000,
            0.25,
            convention="icma",
        ),
        _row("gal-125m/c2m", "caption2mol", "Galactica-125M", "Galactica", 125_000_000, 0.30),
        _row("molt5-small/c2m", "caption2mol", "MolT5-small", "MolT5", 77_000_000, 0.60, method="fine-tuned"),
        _row("gpt4/c2m", "caption2mol", "GPT-4", "GPT", None, 0.50),
    ]
    rows[1]["scores"]["bleu4"] = None  # a missing value sorts last either way
    return {
        "schema": SCHEMA,
        "dataset": "chebi20",
        "split": "test",
        "n_documents": 5,
        "built_with": {"icma_bench": "0.1.0"},
        "bootstrap": {"resamples": 1000, "seed": 0, "confidence": 0.95, "alpha": 0.05},
        "metrics": {"mol2caption": metric_specs("mol2caption"), "caption2mol": metric_specs("caption2mol")},
        "conventions": dict(CONVENTIONS),
        "rows": rows,
    }


def test_embedded_json_cannot_close_its_element():
    board = fixture_board()
    text = embed_json(board)
    assert "</" not in text and "<" not in text and json.loads(text) == json.loads(json.dumps(board))
    page = render_html(board)
    assert "<img" not in page and page.count("</script>") == 2
    assert "script-src 'sha256-" in page  # only the page's own script may run


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    for path in ("/usr/bin/chromium", "/usr/lib/chromium/chromium"):
        if Path(path).is_file():
            return path
    pytest.fail(
        "no chromium found (looked for chromium, chromium-browser, google-chrome on PATH): "
        "apt-get install -y --no-install-recommends chromium, or set ICMA_BENCH_NO_BROWSER=1 to skip"
    )


@pytest.fixture(scope="module")
def browser():
    if os.environ.get("ICMA_BENCH_NO_BROWSER") == "1":
        pytest.skip("ICMA_BENCH_NO_BROWSER=1: headless-browser test skipped on request")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[dev]' (or set ICMA_BENCH_NO_BROWSER=1)")
    executable = _chromium()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def _ids(page, task="mol2caption"):
    return page.eval_on_selector_all(f"#table-{task} tbody tr.row", "rs => rs.map(r => r.dataset.id)")


def _order(board, task, metric, reverse):
    rows = [r for r in board["rows"] if r["task"] == task and r["convention"] == "molt5"]
    with_value = [r for r in rows if r["scores"].get(metric)]
    ordered = sorted(with_value, key=lambda r: r["scores"][metric]["value"], reverse=reverse)
    return [r["id"] for r in ordered] + [r["id"] for r in rows if not r["scores"].get(metric)]


def test_page_in_headless_browser(browser, tmp_path):
    board = fixture_board()
    html_file = tmp_path / "index.html"
    html_file.write_text(render_html(board), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors, dialogs, requests = [], [], []
    page.on("request", lambda req: requests.append(req.url))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(html_file.as_uri())
    page.wait_for_selector("#table-mol2caption tbody tr.row")

    assert "not significantly different from the best, paired bootstrap" in page.inner_text("#legend")
    assert page.input_value("#convention-mol2caption") == "molt5"
    # Every row of the default view (molt5 convention) renders, sorted by the first headline metric, best first.
    assert _ids(page) == _order(board, "mol2caption", "bleu2", reverse=True)
    assert len(_ids(page, "caption2mol")) == 3

    # Clicking a metric header sorts best-first (nulls last), clicking again reverses.
    page.click("#table-mol2caption th[data-metric=bleu4]")
    assert _ids(page) == _order(board, "mol2caption", "bleu4", reverse=True)
    assert page.get_attribute("#table-mol2caption th[data-metric=bleu4]", "aria-sort") == "descending"
    page.click("#table-mol2caption th[data-metric=bleu4]")
    assert _ids(page) == _order(board, "mol2caption", "bleu4", reverse=False)
    page.click("#table-mol2caption th[data-key=params]")
    assert _ids(page)[-1] == "gpt4/m2c" and _ids(page)[0].startswith("molt5-small")
    assert "\u2191" in page.inner_text("#table-caption2mol th[data-metric=bleu]")
    assert "\u2193" in page.inner_text("#table-caption2mol th[data-metric=levenshtein]")

    # Scores: 3 decimals, best bold, tie marker, interval on hover and as small text.
    cell = '#table-mol2caption tr.row[data-id="gal-6.7b/m2c"] td[data-metric=bleu4]'
    assert page.inner_text(cell + " strong") == "0.510"
    assert page.get_attribute(cell, "title") == "95% interval [0.500, 0.520]"
    assert page.is_visible('#table-mol2caption tr.row[data-id="molt5-small/m2c"] td[data-metric=bleu4] .tied')

    title = page.get_attribute('#table-mol2caption tr.row[data-id="gal-6.7b/m2c"]', "title")
    assert "Signature: protocol:molt5|fixture" in title and "Counts: n 5, invalid 1" in title
    # The hostile string is text, nothing executed, no element injected, its javascript: link not linked.
    evil = '#table-mol2caption tr.row[data-id="evil/m2c"]'
    assert page.inner_text(evil + " .model") == HOSTILE
    page.click(evil + " button.more")
    assert HOSTILE in page.inner_text('tr.detail[data-for="evil/m2c"]')
    assert page.locator('tr.detail[data-for="evil/m2c"] a').count() == 0
    assert page.evaluate("document.images.length") == 0

    # Plots: one per headline metric; API point in its strip; reported row hollow; error bars for measured rows.
    headline = [m["name"] for m in board["metrics"]["mol2caption"] if m["headline"]]
    assert page.locator("#plots-mol2caption svg.plot").count() == len(headline)
    plot = "#plot-mol2caption-bleu2"
    assert page.locator(plot + " circle.point").count() == 7
    assert page.locator(plot + " circle.point.reported").count() == 1
    assert page.get_attribute(plot + " circle.point.reported", "fill") == "#ffffff"
    assert page.locator(plot + " line.errbar").count() == 6
    assert page.text_content(plot + " .api-panel") == "API,size unknown"
    strip_x = float(page.get_attribute(plot + " .api-panel rect", "x"))
    api_x = float(page.get_attribute(plot + ' circle.point.api[data-id="gpt4/m2c"]', "cx"))
    sized_x = page.eval_on_selector_all(
        plot + " circle.point:not(.api)", "cs => cs.map(c => +c.getAttribute('cx'))"
    )
    assert api_x > strip_x > max(sized_x)
    assert "GPT-4" in page.text_content(plot + ' circle.point[data-id="gpt4/m2c"] title')
    assert page.locator(plot + " path.series").count() >= 1  # Galactica's three sizes joined
    assert page.locator(f"{plot} circle.point[data-id='gal-1.3b/m2c']").count() == 1
    assert page.locator("#plot-mol2caption-bleu4 circle[data-id='gal-1.3b/m2c']").count() == 0  # null value

    # Filters hide rows in the table and the plots.
    page.select_option("#filter-family", "MolT5")
    assert sorted(_ids(page)) == ["molt5-small/m2c", "molt5-small/m2c/rep"]
    assert page.locator(plot + " circle.point").count() == 2
    page.uncheck("#filter-kind-reported")
    assert _ids(page) == ["molt5-small/m2c"] and page.locator(plot + " circle.point.reported").count() == 0
    page.check("#filter-kind-reported")
    page.select_option("#filter-family", "")
    page.select_option("#filter-size", "api")
    assert _ids(page) == ["gpt4/m2c"] and _ids(page, "caption2mol") == ["gpt4/c2m"]
    page.select_option("#filter-size", "")
    page.select_option("#filter-method", "fine-tuned")
    assert sorted(_ids(page)) == ["molt5-small/m2c", "molt5-small/m2c/rep"] and _ids(page, "caption2mol") == [
        "molt5-small/c2m"
    ]
    page.select_option("#filter-method", "")
    page.select_option("#filter-training", "fine-tuned on this train")
    assert sorted(_ids(page)) == ["molt5-small/m2c", "molt5-small/m2c/rep"]
    page.select_option("#filter-training", "")
    page.select_option("#convention-mol2caption", "icma")
    assert _ids(page) == ["gal-125m/m2c/icma"] and page.locator(plot + " circle.point").count() == 1
    page.select_option("#convention-mol2caption", "molt5")
    assert len(_ids(page)) == 7

    shot = tmp_path / "leaderboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("ICMA_BENCH_SCREENSHOT_DIR"):
        out = Path(os.environ["ICMA_BENCH_SCREENSHOT_DIR"])
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, out / "leaderboard.png")
    page.close()
    assert dialogs == [] and errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []  # no network
