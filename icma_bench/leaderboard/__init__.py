"""Leaderboards: collect measured rows (lm-eval results, prediction files with sidecars) and reported rows (papers'
numbers, with citations), attach bootstrap intervals and paired tests, and render Markdown, CSV, JSON, a static HTML
page and score-vs-size plots. The board is data first (:mod:`icma_bench.leaderboard.schema`), rendering second."""
