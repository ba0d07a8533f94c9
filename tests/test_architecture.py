"""The import rule of docs/architecture.md, enforced: every part of the package imports only parts below it."""

from __future__ import annotations

import ast

from conftest import REPO

# Part -> layer (docs/architecture.md). A part may import parts of a lower layer only; parts of one layer never
# import each other (so `harness`, `finetune` and `leaderboard` stay independent), and nothing imports `cli`.
LAYERS = {
    "icma_bench": 0, "files": 0, "yamlfiles": 0, "settings": 0, "vocabulary": 0,
    "downloads": 1, "store": 1, "chem": 1,
    "data": 2, "graph": 2,
    "retrieval": 3, "predictions": 3, "metrics": 3,
    "prompts": 4,
    "harness": 5, "finetune": 5, "leaderboard": 5,
    "cli": 6, "__main__": 7,
}  # fmt: skip


def _part(module: str) -> str | None:
    names = module.split(".")
    return None if names[0] != "icma_bench" else names[1] if len(names) > 1 else "icma_bench"


def _imports(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):  # imports inside functions count: a lazy import is still a dependency
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def _violations(sources: dict[str, str]) -> list[str]:
    """Imports against the layering in ``{module path relative to the repository: source}``."""
    broken = []
    for rel, source in sorted(sources.items()):
        names = rel.removesuffix(".py").split("/")
        part = _part(".".join(n for n in names if n != "__init__"))
        if part not in LAYERS:
            broken.append(f"{rel}: part {part!r} has no layer in docs/architecture.md and LAYERS")
            continue
        for module in sorted(_imports(ast.parse(source))):
            target = _part(module)
            if target is None or target == part:
                continue
            if LAYERS.get(target, 99) >= LAYERS[part]:
                broken.append(f"{rel} (layer {LAYERS[part]}) imports {module} (layer {LAYERS.get(target)})")
    return broken


def test_every_import_goes_down_the_layers():
    sources = {
        str(path.relative_to(REPO)): path.read_text(encoding="utf-8")
        for path in (REPO / "icma_bench").rglob("*.py")
    }
    assert len(sources) > 50
    broken = _violations(sources)
    assert not broken, "imports against the layering:\n" + "\n".join(broken)


def test_the_rule_catches_upward_sideways_and_unknown_imports():
    lazy_upward = "def f():\n    from icma_bench.harness import scoring\n"
    sideways = "import icma_bench.finetune.recipe\n"
    assert _violations({"icma_bench/prompts.py": lazy_upward}) == [
        "icma_bench/prompts.py (layer 4) imports icma_bench.harness (layer 5)"
    ]
    assert _violations({"icma_bench/harness/hooks.py": sideways}) == [
        "icma_bench/harness/hooks.py (layer 5) imports icma_bench.finetune.recipe (layer 5)"
    ]
    assert _violations({"icma_bench/newpart.py": "import os\n"}) == [
        "icma_bench/newpart.py: part 'newpart' has no layer in docs/architecture.md and LAYERS"
    ]
    assert (
        _violations({"icma_bench/harness/hooks.py": "from icma_bench.prompts import render_prompt\n"}) == []
    )
