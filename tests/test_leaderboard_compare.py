"""``icma-bench compare`` with three tiny local models of different sizes, end to end through lm-eval's API, then
``icma-bench leaderboard check`` on what it wrote (and on a tampered copy)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from tiny_models import build_tiny_gpt2

from icma_bench.cli import main
from icma_bench.harness.compare import CompareSpecError, leaf_tasks, load_compare_spec

TASK = "icma_chebi20_mol2caption"


@pytest.fixture(scope="module")
def compared(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("compare")
    models = []
    for name, width in (("tiny-s", 16), ("tiny-m", 32), ("tiny-l", 64)):
        path = build_tiny_gpt2(root / name, n_positions=700, n_embd=width)
        models.append(
            f"  - {{name: {name}, backend: hf, family: tiny, training_data: none,\n"
            f"     model_args: {{pretrained: {path}, dtype: float32}}, gen_kwargs: 'max_gen_toks=16'}}"
        )
    spec = root / "models.yaml"
    metadata = json.dumps({"data_path": str(shared_data / "chebi20" / "molt5"), "pool_split": "validation"})
    spec.write_text(f"tasks: [{TASK}]\nlimit: 4\nmetadata: {metadata}\nmodels:\n" + "\n".join(models) + "\n")
    out, board = root / "results", root / "board"
    args = [
        "compare",
        "--models",
        str(spec),
        "--output",
        str(out),
        "--board",
        str(board),
        "--resamples",
        "50",
    ]
    assert main(args) == 0
    return root, spec, out, board, args


def test_compare_builds_a_board_with_a_size_series(compared):
    _, _, out, board, _ = compared
    data = json.loads((board / "board.json").read_text())
    rows = [r for r in data["rows"] if r["convention"] == "molt5"]
    assert sorted(r["model"] for r in rows) == ["tiny-l", "tiny-m", "tiny-s"]
    sizes = {r["model"]: r["params"] for r in rows}
    assert sizes["tiny-s"] < sizes["tiny-m"] < sizes["tiny-l"]  # from lm-eval's parameter count
    assert all(r["n_documents"] == 4 and r["method"] == "in-context" and r["shots"] == 2 for r in rows)
    assert all(r["scores"]["bleu2"]["low"] is not None for r in rows)  # samples logged: intervals
    assert (board / "plots" / "mol2caption_molt5_vs_params.svg").is_file()
    assert len(list(out.rglob("samples_*.jsonl"))) == 3


def test_compare_skips_models_with_results(compared, caplog):
    _, _, out, _, args = compared
    before = sorted(out.rglob("results_*.json"))
    with caplog.at_level(logging.WARNING, logger="icma_bench.harness.compare"):
        assert main(args) == 0
    assert sorted(out.rglob("results_*.json")) == before
    assert caplog.text.count("already exist; skipped") == 3


def test_check_accepts_the_runs_and_refuses_a_tampered_number(compared, tmp_path, capsys):
    _, _, out, _, _ = compared
    assert main(["leaderboard", "check", str(out)]) == 0
    assert "re-score to their stated numbers" in capsys.readouterr().out
    tampered = tmp_path / "tampered"
    shutil.copytree(out, tampered)
    (results,) = (tampered / "tiny-m").rglob("results_*.json")
    doc = json.loads(results.read_text())
    doc["results"][TASK]["bleu4,none"] += 0.01
    results.write_text(json.dumps(doc))
    assert main(["leaderboard", "check", str(tampered)]) == 1
    err = capsys.readouterr().err
    assert "bleu4" in err and "disagree" in err and str(results) in err


def test_check_refuses_results_without_samples(compared, tmp_path, capsys):
    _, _, out, _, _ = compared
    bare = tmp_path / "bare"
    shutil.copytree(out / "tiny-s", bare)
    for f in bare.rglob("samples_*.jsonl"):
        f.unlink()
    assert main(["leaderboard", "check", str(bare)]) == 1
    assert "--log_samples" in capsys.readouterr().err


def test_model_lists_are_validated(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text("models:\n  - {name: a, backend: hf, sizee: 3}\n")
    with pytest.raises(CompareSpecError, match="unknown key"):
        load_compare_spec(bad)
    bad.write_text("models:\n  - {name: ../x, backend: hf}\n")
    with pytest.raises(CompareSpecError, match="plain folder name"):
        load_compare_spec(bad)
    assert leaf_tasks(["icma_chebi20"]) == {"icma_chebi20_mol2caption", "icma_chebi20_caption2mol"}


def test_compare_without_models_is_one_line(tmp_path, capsys):
    code = main(["compare", "--output", str(tmp_path / "o"), "--board", str(tmp_path / "b")])
    assert code == 2 and "no models" in capsys.readouterr().err


def test_readme_scaling_yaml_parses(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "docs" / "leaderboards.md").read_text(encoding="utf-8")
    block = readme.split("```yaml\n# compare.yaml", 1)[1].split("```", 1)[0]
    path = tmp_path / "compare.yaml"
    path.write_text("# compare.yaml" + block)
    spec = load_compare_spec(path)
    assert [m.backend for m in spec.models][:3] == ["hf", "hf", "hf"]
