"""Collect every board input under the INPUTS paths (files or folders, walked in sorted order), validated."""

from __future__ import annotations

from pathlib import Path

from icma_bench.leaderboard.results import read_results_file
from icma_bench.leaderboard.sources import BoardInputError, Inputs, read_manifest


def collect_inputs(paths: list[Path], *, released: Path | None = None) -> Inputs:
    """Every input under ``paths`` (files or folders, walked in sorted order), validated."""
    inputs = Inputs()
    for root in paths:
        root = Path(root)
        if not root.exists():
            raise BoardInputError(f"{root}: no such file or folder")
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for f in files:
            if f.name.startswith("results_") and f.suffix == ".json":
                runs = read_results_file(f)
                inputs.results.extend(runs)
                inputs.files += [f, *(r.samples for r in runs if r.samples)]
                if (f.parent / "row.yaml").is_file():
                    inputs.files.append(f.parent / "row.yaml")
            elif f.suffix in (".yaml", ".yml") and f.name != "row.yaml":
                read_manifest(f, released, inputs)
            elif root.is_file():
                raise BoardInputError(f"{f}: not a board input (results_*.json or a *.yaml manifest)")
    if not (inputs.predictions or inputs.results or inputs.reported):
        raise BoardInputError(f"no board inputs under {', '.join(map(str, paths))}")
    return inputs
