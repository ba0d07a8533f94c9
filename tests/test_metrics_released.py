"""Parity on real models' released outputs (../shared/data/released_outputs): MolT5's 16 prediction files against
MolT5's scripts as written, and MolReGPT's published caption numbers under the ``icma`` protocol."""

from __future__ import annotations

import json

import pytest
from conftest import SHARED_DATA
from molt5_reference import molt5_caption_reference, molt5_molecule_reference, read_molt5

from icma_bench.cli import main
from icma_bench.metrics import compute

RELEASED = SHARED_DATA / "released_outputs"
MOLT5_FILES = sorted(p.name for p in (RELEASED / "molt5").glob("*.txt")) if RELEASED.is_dir() else []
T5_TOKENIZER = SHARED_DATA / "molt5_t5_tokenizer"

pytestmark = pytest.mark.skipif(not MOLT5_FILES, reason=f"released outputs not found under {RELEASED}")


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory):
    """One metrics cache for the module: the reference features/tokens of the test set are computed once."""
    return tmp_path_factory.mktemp("released_cache")


@pytest.fixture
def warm_cache(module_cache, monkeypatch):
    monkeypatch.setenv("ICMA_BENCH_CACHE", str(module_cache))


def test_there_are_sixteen_molt5_files():
    assert len(MOLT5_FILES) == 16


@pytest.mark.parametrize("name", [n for n in MOLT5_FILES if "caption2smiles" in n])
def test_molt5_molecule_files_equal_the_scripts_on_installed_rdkit(name, warm_cache):
    """With current RDKit's empty-fingerprint convention (0.0) the molt5 protocol is MolT5's scripts, bitwise."""
    pairs = read_molt5(RELEASED / "molt5" / name)
    assert len(pairs) == 3300
    expected = molt5_molecule_reference(pairs)
    preds, refs = [o for _, o in pairs], [g for g, _ in pairs]
    result = compute("caption2mol", preds, refs, empty_fingerprint_similarity=0.0)
    for metric, value in expected.items():
        assert result.scores[metric] == value, (name, metric)
    assert result.signature["empty_fp"] == "0.0"


DEFAULT_TIER_CAPTIONS = ("molt5-large-smiles2caption.txt", "t5-v1_1-small-smiles2caption.txt")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=() if n in DEFAULT_TIER_CAPTIONS else pytest.mark.slow)
        for n in MOLT5_FILES
        if "smiles2caption" in n
    ],
)
def test_molt5_caption_files_equal_the_scripts(name, warm_cache):
    """The caption scripts on installed NLTK (12 s of reference loop per file: 2 files by default, all 8 with
    ``-m slow``; the metric engine's caption path is the same code for every file)."""
    pairs = read_molt5(RELEASED / "molt5" / name, strip_cls=True)
    expected = molt5_caption_reference(pairs)
    result = compute("mol2caption", [o for _, o in pairs], [g for g, _ in pairs])
    for metric, value in expected.items():
        assert result.scores[metric] == value, (name, metric)


def test_literature_fingerprint_convention_on_molt5_large(warm_cache):
    """The default (RDKit < 2025.09: two empty bit fingerprints score 1.0) moves MolT5-large's RDK similarity by
    0.0054 through its 17 scored pairs of bond-less molecules; MACCS and Morgan do not move; strict keeps 0.0."""
    from rdkit import Chem

    pairs = read_molt5(RELEASED / "molt5" / "molt5-large-caption2smiles.txt")
    preds, refs = [o for _, o in pairs], [g for g, _ in pairs]
    literature = compute("caption2mol", preds, refs, protocol="both")
    current = compute("caption2mol", preds, refs, empty_fingerprint_similarity=0.0)
    empty_pairs = 0
    for ref, pred in pairs:
        a, b = Chem.MolFromSmiles(ref), Chem.MolFromSmiles(pred)
        if a is not None and b is not None:
            empty_pairs += Chem.RDKFingerprint(a).GetNumOnBits() == Chem.RDKFingerprint(b).GetNumOnBits() == 0
    assert empty_pairs == 17
    scored = literature.counts["scored_pairs"]
    assert literature.scores["rdk_fts"] - current.scores["rdk_fts"] == pytest.approx(17 / scored, abs=1e-12)
    assert round(literature.scores["rdk_fts"] - current.scores["rdk_fts"], 4) == 0.0054
    assert literature.scores["maccs_fts"] == current.scores["maccs_fts"]
    assert literature.scores["morgan_fts"] == current.scores["morgan_fts"]
    assert literature.signature["empty_fp"] == "1.0" and literature.signature["strict_empty_fp"] == "0.0"


def _molregpt_pairs(run: str) -> list[dict]:
    """MolReGPT's released captions paired with the ChEBI-20 test captions, row by row as its naive_test.py pairs
    them (each line stripped and split on tabs; the caption is the second-to-last field)."""
    from icma_bench.data import load_records

    test = load_records(SHARED_DATA / "chebi20" / "molt5" / "test.txt")
    lines = (RELEASED / "molregpt" / f"{run}.txt").read_text(encoding="utf-8").splitlines()[1:]
    assert len(lines) == len(test) == 3300
    rows = []
    for record, line in zip(test, lines, strict=True):
        fields = line.strip().split("\t")
        assert fields[0] == record.cid
        rows.append({"prediction": fields[-2], "reference": record.description.strip()})
    return rows


@pytest.mark.skipif(
    not (T5_TOKENIZER / "spiece.model").is_file(), reason=f"no T5 tokenizer at {T5_TOKENIZER}"
)
@pytest.mark.parametrize(
    ("run", "reported"),
    [
        ("gpt4-0314", (0.607, 0.525, 0.610)),  # MolReGPT's README: GPT-4, 10 shots
        ("ten_shot_morgan_NA", (0.565, 0.482, 0.585)),
        ("zero_shot", (0.103, 0.050, 0.161)),
    ],
)
def test_icma_protocol_reproduces_molregpt_published_numbers(run, reported, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ICMA_BENCH_T5_TOKENIZER", str(T5_TOKENIZER))
    path = tmp_path / f"{run}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _molregpt_pairs(run)), encoding="utf-8")
    assert main(["score", str(path), "--task", "mol2caption", "--protocol", "icma", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    scores = out["scores"]
    assert (round(scores["bleu2"], 3), round(scores["bleu4"], 3), round(scores["meteor"], 3)) == reported
    assert out["signature"]["tokenizer"].startswith("molt5-base-smiles2caption#")
    assert out["signature"]["max_length"] == "none"


@pytest.mark.skipif(
    not (T5_TOKENIZER / "spiece.model").is_file(), reason=f"no T5 tokenizer at {T5_TOKENIZER}"
)
def test_icma_protocol_equals_naive_test_loop(monkeypatch):
    """Statement for statement: MolReGPT's text_evaluate with T5Tokenizer.tokenize (no truncation)."""
    from transformers import AutoTokenizer

    monkeypatch.setenv("ICMA_BENCH_T5_TOKENIZER", str(T5_TOKENIZER))
    rows = _molregpt_pairs("gpt4-0314")[:300]
    pairs = [(r["reference"], r["prediction"]) for r in rows]
    expected = molt5_caption_reference(
        pairs, tokenizer=AutoTokenizer.from_pretrained(T5_TOKENIZER), max_length=None
    )
    result = compute("mol2caption", [p for _, p in pairs], [g for g, _ in pairs], protocol="icma")
    for metric, value in expected.items():
        assert result.scores[metric] == value, metric


def test_readme_numbers_table_is_measured(warm_cache):
    """Every *measured* row of the README's "What the numbers look like" table is what icma-bench computes."""
    import re

    from conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split("### What the numbers look like", 1)[1].split("\n\n## ", 1)[0]
    rows = {"T5-small": "t5-v1_1-small", "MolT5-large": "molt5-large"}
    for label, stem in rows.items():
        (line,) = [row for row in table.splitlines() if row.startswith(f"| {label} ")]
        numbers = [float(x) for x in re.findall(r"\d\.\d{3}", line)]
        caps = read_molt5(RELEASED / "molt5" / f"{stem}-smiles2caption.txt", strip_cls=True)
        mols = read_molt5(RELEASED / "molt5" / f"{stem}-caption2smiles.txt")
        cap = compute("mol2caption", [o for _, o in caps], [g for g, _ in caps], protocol="molt5+icma").scores
        mol = compute("caption2mol", [o for _, o in mols], [g for g, _ in mols]).scores
        expected = [cap["bleu4"], cap["icma_bleu4"], cap["meteor"], cap["icma_meteor"]]
        expected += [mol["exact_match"], mol["validity"], mol["morgan_fts"]]
        assert numbers == [round(x, 3) for x in expected], label
