"""Prompt strings pinned byte for byte; documents, leave-one-out, budgets, method/task checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from icma_bench.prompts import DEFAULT_METHOD, build_documents, fit_budget, render_prompt

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "retrieval"
SHOTS = [("CCO", "Ethanol caption."), ("CCCO", "Propanol caption.")]  # rank order: CCO is the most similar


def test_mol2caption_icma_prompt_byte_for_byte():
    expected = (
        "Generate a caption for the molecule: CCCO\nCaption: Propanol caption.\n\n"
        "Generate a caption for the molecule: CCO\nCaption: Ethanol caption.\n\n"
        "Based on the above examples, analyse the similarities and differences between the examples and finally "
        "generate a caption for the molecule: CCCCO."
    )
    assert render_prompt("mol2caption", "CCCCO", SHOTS) == expected
    not_reversed = render_prompt("mol2caption", "CCCCO", SHOTS, reverse=False)
    assert not_reversed.startswith("Generate a caption for the molecule: CCO\nCaption: Ethanol caption.\n\n")


def test_caption2mol_icma_prompt_byte_for_byte():
    expected = (
        "Generate a molecule for the caption: Propanol caption.\nMolecule: CCCO\n\n"
        "Generate a molecule for the caption: Ethanol caption.\nMolecule: CCO\n\n"
        "Based on the above examples, analyse the similarities and differences between the examples and finally "
        "generate a molecule for the caption: A butanol."
    )
    assert render_prompt("caption2mol", " A butanol. ", SHOTS) == expected


def test_galactica_tags_wrap_every_smiles():
    got = render_prompt("mol2caption", "CCCCO", SHOTS[:1], galactica=True)
    assert got == (
        "Generate a caption for the molecule: [START_I_SMILES]CCO[END_I_SMILES]\nCaption: Ethanol caption.\n\n"
        "Based on the above examples, analyse the similarities and differences between the examples and finally "
        "generate a caption for the molecule: [START_I_SMILES]CCCCO[END_I_SMILES]."
    )
    c2m = render_prompt("caption2mol", "A butanol.", SHOTS[:1], galactica=True)
    assert "Molecule: [START_I_SMILES]CCO[END_I_SMILES]\n\n" in c2m


def test_direct_templates_and_zero_shots():
    assert (
        render_prompt("mol2caption", "CCO", template="direct") == "Generate a caption for the molecule: CCO\n"
    )
    assert (
        render_prompt("caption2mol", "An alcohol.", template="direct")
        == "Generate a molecule that: An alcohol.\n"
    )
    # ICMA's ZeroShotDataset(add_special_token=True), byte for byte (dataset.py of phenixace/ICMA)
    assert (
        render_prompt("mol2caption", " CCO\n", template="direct", galactica=True)
        == "## User: Generate a caption for the molecule: [START_I_SMILES]CCO[END_I_SMILES]\n"
    )
    assert (
        render_prompt("caption2mol", "An alcohol. \n", template="direct", galactica=True)
        == "## User: Generate a molecule that: An alcohol.\n## Assistant: "
    )
    assert render_prompt("caption2mol", "X.", []) == (
        "Based on the above examples, analyse the similarities and differences between the examples and finally "
        "generate a molecule for the caption: X."
    )
    with pytest.raises(ValueError, match="takes no shots"):
        render_prompt("mol2caption", "CCO", SHOTS, template="direct")
    with pytest.raises(ValueError, match="unknown task"):
        render_prompt("mol2text", "CCO")


def test_budget_drops_least_similar_shots_first_never_the_query():
    full = render_prompt("mol2caption", "CCCCO", SHOTS)
    one = render_prompt("mol2caption", "CCCCO", SHOTS[:1])
    none = render_prompt("mol2caption", "CCCCO", [])
    assert fit_budget("mol2caption", "CCCCO", SHOTS, len(full)) == (full, 2, len(full))
    assert fit_budget("mol2caption", "CCCCO", SHOTS, len(full) - 1) == (one, 1, len(one))
    assert fit_budget("mol2caption", "CCCCO", SHOTS, 5) == (none, 0, len(none))  # query kept whole
    words = fit_budget("mol2caption", "CCCCO", SHOTS, 40, count_tokens=lambda s: len(s.split()))
    assert words[1] == 1 and words[2] == len(one.split())


def test_build_documents_test_split(tmp_path):
    docs = build_documents("chebi20", "test", "mol2caption", shots=2, data_path=FIXTURE, cache_dir=tmp_path)
    assert len(docs) == 3
    d = docs[0]
    assert d["cid"] == "201" and d["task"] == "mol2caption" and d["method"] == DEFAULT_METHOD["mol2caption"]
    assert d["query"] == "CCCCO" and d["target"].startswith(
        "The molecule is a primary alcohol that is butane"
    )
    assert d["n_shots_requested"] == d["n_shots_used"] == 2 and d["template"] == "icma"
    ranks = [s["rank"] for s in d["shots"]]
    assert ranks == [2, 1]  # prompt order with reversal: the most similar shot sits right before the query
    shots = [(s["smiles"], s["description"]) for s in d["shots"][::-1]]
    assert d["prompt"] == render_prompt("mol2caption", "CCCCO", shots)
    assert d["shots"][1]["score"] >= d["shots"][0]["score"]
    c2m = build_documents(
        "chebi20", "test", "caption2mol", shots=1, data_path=FIXTURE, cache_dir=tmp_path, limit=2
    )
    assert len(c2m) == 2 and c2m[0]["method"] == "bm25" and c2m[0]["target"] == "CCCCO"
    assert c2m[0]["shots"][0]["cid"] == "102"  # "... propane substituted by a hydroxy group at position 1."


def test_build_documents_leave_one_out_on_train(tmp_path):
    docs = build_documents("chebi20", "train", "mol2caption", shots=2, data_path=FIXTURE, cache_dir=tmp_path)
    for d in docs:
        assert d["cid"] not in {s["cid"] for s in d["shots"]}
    # CID 101 and 110 are the same molecule under two CIDs: each is the other's best shot (kept, by design).
    assert docs[0]["shots"][-1]["cid"] == "110" and docs[0]["shots"][-1]["score"] == 1.0
    # the unparsable SMILES (CID 109) is still a document; its shots are score-0 fillers in pool order
    bad = docs[8]
    assert bad["cid"] == "109" and [s["score"] for s in bad["shots"]] == [0.0, 0.0]


def test_build_documents_budget_direct_and_checks(tmp_path):
    kw = {"data_path": FIXTURE, "cache_dir": tmp_path}
    docs = build_documents("chebi20", "test", "caption2mol", shots=3, budget=250, **kw)
    for d in docs:
        assert d["prompt_length"] == len(d["prompt"]) and (
            d["prompt_length"] <= 250 or d["query_exceeds_budget"]
        )
        assert d["n_shots_used"] == len(d["shots"]) <= 3
    assert any(d["n_shots_used"] < 3 for d in docs)
    tiny = build_documents("chebi20", "test", "caption2mol", shots=3, budget=10, **kw)
    assert all(d["n_shots_used"] == 0 and d["query_exceeds_budget"] for d in tiny)
    direct = build_documents("chebi20", "test", "mol2caption", template="direct", **kw)
    assert direct[0]["prompt"] == "Generate a caption for the molecule: CCCCO\n" and direct[0]["shots"] == []
    assert direct[0]["method"] is None and direct[0]["n_shots_requested"] == 0
    bucket = build_documents("chebi20", "test", "mol2caption", shots=2, k=6, bucket=True, **kw)
    assert [s["rank"] for s in bucket[0]["shots"]] == [4, 1]
    walk = build_documents("chebi20", "test", "mol2caption", shots=2, random_walk_p=0.5, seed=1, **kw)
    assert walk == build_documents("chebi20", "test", "mol2caption", shots=2, random_walk_p=0.5, seed=1, **kw)
    with pytest.raises(ValueError, match="reference answer"):
        build_documents("chebi20", "test", "mol2caption", method="bm25", **kw)
    graph = build_documents("chebi20", "test", "mol2caption", method="graph", **kw)  # the shipped GIN weights
    assert graph[0]["method"] == "graph" and graph[0]["n_shots_used"] == 2
