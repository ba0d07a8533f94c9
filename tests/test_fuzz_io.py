"""Property tests (hypothesis): metrics, the data loader and ``icma-bench score`` on arbitrary input.

Each input either scores with every row counted (``n`` == rows) or fails with one line naming the input: no
traceback, no hang. The default suite runs a few examples per property (well under a minute in all); the same
properties run with many more examples under ``-m slow``.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import pytest
from conftest import SHARED_DATA

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from icma_bench.cli import main  # noqa: E402
from icma_bench.data import MalformedDataError, load_records  # noqa: E402
from icma_bench.metrics import compute  # noqa: E402

FAST, SLOW = 8, 200
EXAMPLES = [pytest.param(FAST, id="fast"), pytest.param(SLOW, id="slow", marks=pytest.mark.slow)]
needs_metrics = pytest.mark.skipif(
    not (SHARED_DATA / "scibert_scivocab_uncased" / "vocab.txt").is_file()
    or not (SHARED_DATA / "molt5_t5_tokenizer").is_dir(),
    reason=f"caption tokenizers / WordNet not found under {SHARED_DATA}",
)

# Any code point, surrogates and control characters included.
ANY_CHAR = st.characters(codec=None, exclude_categories=())
NASTY = [
    "",
    " ",
    "\t\n",
    "\ud800",
    "a\udfffb",
    "\x00",
    "CCO\x00",
    "\u202eOCC",
    "\ufeff",
    "\u2028",
    "[CLS] ",
    "C(C)(C)(C)(C)C",  # pentavalent carbon
    "c1ccccc",  # unclosed aromatic ring
    "[Fe+10]",
    "N(=O)(=O)=O",
    "C1CC",
    "((((",
    "x" * 100_000,
    "C" * 2_000,
]
SMILES_LIKE = st.text(alphabet="CNOSPcnos()[]=#123@+-\\/%. Hl", max_size=40)
ARBITRARY = st.one_of(st.sampled_from(NASTY), st.text(ANY_CHAR, max_size=60), SMILES_LIKE)
REFERENCE_TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=60)


def _settings(n: int):
    return settings(
        max_examples=n,
        deadline=None if n > FAST else 20_000,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=n == FAST,  # the default suite is reproducible; -m slow explores
    )


def _check_result(res, n: int) -> None:
    assert res.counts["n"] == n
    for name, value in res.scores.items():
        assert isinstance(value, float), name
        assert math.isnan(value) or math.isfinite(value), name


@needs_metrics
@pytest.mark.parametrize("examples", EXAMPLES)
def test_caption_metrics_take_any_output(examples):
    @_settings(examples)
    @given(st.lists(st.tuples(ARBITRARY, REFERENCE_TEXT), min_size=1, max_size=4))
    def prop(pairs):
        preds, refs = [p for p, _ in pairs], [r for _, r in pairs]
        _check_result(compute("mol2caption", preds, refs, protocol="all", n_jobs=1), len(pairs))

    prop()


@pytest.mark.parametrize("examples", EXAMPLES)
def test_molecule_metrics_take_any_output(examples):
    refs = st.one_of(
        st.sampled_from(["CCO", "c1ccccc1", "[Na+].[Cl-]", "C", "O=C=O"]), SMILES_LIKE.filter(str.strip)
    )

    @_settings(examples)
    @given(st.lists(st.tuples(ARBITRARY, refs), min_size=1, max_size=4))
    def prop(pairs):
        preds, refs_ = [p for p, _ in pairs], [r for _, r in pairs]
        res = compute("caption2mol", preds, refs_, protocol="all", n_jobs=1)
        _check_result(res, len(pairs))
        assert 0 <= res.counts.get("strict_valid", res.counts["valid"]) <= len(pairs)

    prop()


# --- data loader --------------------------------------------------------------------------------------------------

FIELD = st.text(st.characters(codec="utf-8", exclude_characters="\t\n\r"), min_size=1, max_size=20).filter(
    lambda s: s.strip(" \t") != "" and s.strip() != ""
)
HEADER = "CID\tSMILES\tdescription"


def _one_line_naming(exc: BaseException, path: Path) -> None:
    msg = str(exc)
    assert msg.startswith(str(path)) and "\n" not in msg, msg


@pytest.mark.parametrize("examples", EXAMPLES)
def test_well_formed_files_round_trip_whatever_the_line_ending(tmp_path_factory, examples):
    folder = tmp_path_factory.mktemp("roundtrip")

    @_settings(examples)
    @given(
        rows=st.lists(st.tuples(FIELD, FIELD, FIELD), min_size=1, max_size=6),
        eol=st.sampled_from(["\n", "\r\n"]),
        bom=st.booleans(),
        final_eol=st.booleans(),
    )
    def prop(rows, eol, bom, final_eol):
        text = (
            ("\ufeff" if bom else "")
            + eol.join([HEADER, *("\t".join(r) for r in rows)])
            + (eol if final_eol else "")
        )
        path = folder / "test.txt"
        path.write_bytes(text.encode("utf-8"))
        recs = load_records(path)
        assert [(r.cid, r.smiles, r.description) for r in recs] == rows  # U+2028, U+0085... never split a row

    prop()


def _mutations():
    good = st.lists(st.tuples(FIELD, FIELD, FIELD), min_size=0, max_size=4).map(
        lambda rows: (HEADER + "\n" + "".join("\t".join(r) + "\n" for r in rows)).encode("utf-8")
    )
    junk = st.binary(max_size=200)
    return st.tuples(good, st.lists(st.tuples(st.integers(0, 400), junk), max_size=3)).map(_apply)


def _apply(args) -> bytes:
    payload, edits = args
    for pos, chunk in edits:
        pos = min(pos, len(payload))
        payload = payload[:pos] + chunk + payload[pos:]
    return payload


@pytest.mark.parametrize("examples", EXAMPLES)
def test_malformed_files_fail_with_one_line_naming_the_file(tmp_path_factory, examples):
    folder = tmp_path_factory.mktemp("malformed")
    extra = st.sampled_from(
        [
            b"",
            b"\xef\xbb\xbf" + HEADER.encode() + b"\r\n1\tC\tx\r\n",
            HEADER.encode() + b"\n1\tC\tx\n1\tCC\ty\n",  # repeated CID: kept, logged
            HEADER.encode() + b"\n1\tC\n",
            HEADER.encode() + b"\n1\tC\tx\ty\n",
            HEADER.encode() + b"\n1\tC\t\xff\n",
            HEADER.encode() + b"\n",
            HEADER.encode() + "\n1\tC\ta\u2028b\n".encode(),
        ]
    )

    @_settings(examples * 3)
    @given(st.one_of(_mutations(), extra))
    def prop(payload):
        path = folder / "test.txt"
        path.write_bytes(payload)
        try:
            recs = load_records(path)
        except MalformedDataError as exc:
            _one_line_naming(exc, path)
            return
        assert recs and all(r.cid.strip() and r.smiles.strip() and r.description.strip() for r in recs)
        assert all("\n" not in r.cid + r.smiles + r.description for r in recs)

    prop()


# --- icma-bench score ---------------------------------------------------------------------------------------------


def _score(path: Path, task: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["score", str(path), "--task", task, "--json", "--n-jobs", "1"])
    return code, out.getvalue(), err.getvalue()


@needs_metrics
@pytest.mark.parametrize("examples", EXAMPLES)
@pytest.mark.parametrize("task", ["mol2caption", "caption2mol"])
def test_score_counts_every_jsonl_row(tmp_path_factory, examples, task):
    folder = tmp_path_factory.mktemp("jsonl")
    reference = REFERENCE_TEXT if task == "mol2caption" else st.sampled_from(["CCO", "c1ccccc1", "C"])

    @_settings(examples)
    @given(st.lists(st.tuples(st.one_of(st.none(), ARBITRARY), reference), min_size=1, max_size=4))
    def prop(rows):
        path = folder / "p.jsonl"
        path.write_text("".join(json.dumps({"prediction": p, "reference": r}) + "\n" for p, r in rows))
        code, out, err = _score(path, task)
        assert code == 0, err
        assert json.loads(out)["counts"]["n"] == len(rows)

    prop()


@needs_metrics
@pytest.mark.parametrize("examples", EXAMPLES)
@pytest.mark.parametrize("suffix", [".jsonl", ".tsv"])
def test_score_on_garbage_files_is_a_number_or_one_line(tmp_path_factory, examples, suffix):
    folder = tmp_path_factory.mktemp("garbage")
    tsv_head = b"SMILES\tground truth\toutput\n"
    garbage = st.one_of(
        st.binary(max_size=300),
        st.binary(max_size=200).map(lambda b: tsv_head + b),
        st.lists(st.text(ANY_CHAR, max_size=30), max_size=4).map(
            lambda xs: "\n".join(xs).encode("utf-8", "surrogatepass")
        ),
        st.sampled_from(
            [
                b'{"prediction": "x"}\n',
                b'{"prediction": 3, "reference": "a"}\n',
                b'{"prediction": "x", "reference": "\\ud800"}\n',
                b"[1, 2]\n",
                b"null\n",
                b'{"prediction": "x", "reference": "a"',
                tsv_head + b"C\tref\tout\textra\n",
                tsv_head + b"C\n",
                b"\xef\xbb\xbf" + tsv_head + b"C\tref\tout\r\n",
            ]
        ),
    )

    @_settings(examples * 2)
    @given(garbage)
    def prop(payload):
        path = folder / f"p{suffix}"
        path.write_bytes(payload)
        code, out, err = _score(path, "mol2caption")
        assert "Traceback" not in err
        if code == 0:
            assert json.loads(out)["counts"]["n"] >= 1
        else:
            lines = [line for line in err.splitlines() if line.strip()]
            assert code == 2 and len(lines) == 1 and str(path) in lines[0], err

    prop()
