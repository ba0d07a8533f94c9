"""User YAML (recipes, board manifests, row.yaml, compare specs) is read without aliases and within a size bound."""

from __future__ import annotations

import time

import pytest

from icma_bench.cli import main
from icma_bench.yamlfiles import MAX_YAML_BYTES, YamlError, load_yaml_file, load_yaml_text

# "billion laughs": nine levels of nine aliases each expand to 9**9 strings when composed
_LEVELS = ["a: &a0 [" + ", ".join(['"lol"'] * 9) + "]"]
_LEVELS += [f"l{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
BOMB = "\n".join(_LEVELS) + "\n"


def test_plain_yaml_and_anchors_without_aliases_load():
    assert load_yaml_text("a: 1\nb: [x, 2.5]\nc: &anchor {d: null}\n") == {
        "a": 1,
        "b": ["x", 2.5],
        "c": {"d": None},
    }


def test_an_alias_is_refused_naming_its_line():
    with pytest.raises(YamlError, match=r"m.yaml: line 2: YAML aliases \(\*a\) are not accepted"):
        load_yaml_text("x: &a 1\ny: *a\n", "m.yaml")


def test_the_alias_bomb_is_refused_at_once():
    start = time.perf_counter()
    with pytest.raises(YamlError, match="aliases"):
        load_yaml_text(BOMB)
    assert time.perf_counter() - start < 1.0


def test_oversized_and_deeply_nested_inputs_are_refused(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * MAX_YAML_BYTES + b"\n")
    with pytest.raises(YamlError, match="over the .*-byte bound"):
        load_yaml_file(big)
    with pytest.raises(YamlError, match="nested too deeply"):
        load_yaml_text("[" * 50_000)
    with pytest.raises(YamlError, match="cannot read"):
        load_yaml_file(tmp_path / "missing.yaml")


def test_task_yaml_function_tags_read_as_null_when_asked():
    assert load_yaml_text("process_results: !function x.y\n", tag_tolerant=True) == {"process_results": None}


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["finetune", "{path}", "--dry-run"], "recipe.yaml"),
        (["leaderboard", "build", "{path}", "--out", "{out}"], "manifest.yaml"),
        (["compare", "--models", "{path}", "--output", "{out}", "--board", "{out}/b"], "compare.yaml"),
    ],
)
def test_every_command_refuses_the_bomb_as_one_line(tmp_path, capsys, argv, name):
    path = tmp_path / name
    path.write_text(BOMB, encoding="utf-8")
    args = [a.format(path=path, out=tmp_path / "out") for a in argv]
    start = time.perf_counter()
    assert main(args) == 2
    assert time.perf_counter() - start < 10
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "aliases" in err[0] and name in err[0], err
