"""The README's quickstart block runs as written (offline, data from ../shared)."""

from __future__ import annotations

import json
import os
import re
import subprocess

from conftest import REPO


def _quickstart_block() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Quickstart section must hold exactly one bash block"
    return blocks[0]


def test_readme_quickstart_runs(shared_data, tmp_path):
    script = _quickstart_block()
    assert "lm_eval --model" in script and "icma-bench score" in script and "icma-bench prompts" in script
    # Run from a scratch folder: point the README's relative paths at the real locations.
    script = script.replace("../shared/data", str(shared_data)).replace(
        "tests/fixtures", str(REPO / "tests/fixtures")
    )
    env = {
        k: v for k, v in os.environ.items() if k not in ("NLTK_DATA", "ICMA_BENCH_SCIBERT", "ICMA_BENCH_DATA")
    }
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = list((tmp_path / "results").rglob("results_*.json"))
    assert len(results) == 1
    data = json.loads(results[0].read_text())
    for task, metric in (
        ("icma_chebi20_mol2caption", "bleu4"),
        ("icma_chebi20_caption2mol", "strict_validity"),
    ):
        assert isinstance(data["results"][task][f"{metric},none"], float)
    assert list((tmp_path / "results").rglob("samples_icma_chebi20_caption2mol_*.jsonl"))
    prompts = [json.loads(line) for line in (tmp_path / "prompts.jsonl").read_text().splitlines()]
    assert len(prompts) == 5 and all(
        p["prompt"].startswith("Generate a molecule for the caption:") for p in prompts
    )
    assert "exact_match" in proc.stdout and "strict" in proc.stdout


def _bash_blocks(section: str) -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    body = readme.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", body, flags=re.S)


def test_ci_runs_exactly_the_readme_commands():
    """.ci/run builds a fresh venv and runs the README's install command and its test command, nothing else."""
    (install,) = _bash_blocks("Install")
    (tests,) = _bash_blocks("Tests")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    commands = [
        line.strip() for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    assert "python3 -m venv .venv" in commands and ". .venv/bin/activate" in commands
    pip = install.strip().replace("pip install", "python -m pip install")
    assert pip in commands, (pip, commands)
    assert tests.strip() in commands
    assert commands.index(". .venv/bin/activate") < commands.index(pip) < commands.index(tests.strip())
