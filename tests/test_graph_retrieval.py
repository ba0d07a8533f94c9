"""`graph` retrieval from SMILES: cached embeddings, neighbours, documents and the CLI, with no embeddings passed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_geometric")

from icma_bench.cli import main  # noqa: E402
from icma_bench.graph.embed import embed_smiles  # noqa: E402
from icma_bench.graph.model import GIN  # noqa: E402
from icma_bench.graph.weights import SHIPPED, save_gin  # noqa: E402
from icma_bench.prompts import build_documents  # noqa: E402
from icma_bench.retrieval import build_neighbours  # noqa: E402
from icma_bench.retrieval.icma_files import load_icma_neighbours  # noqa: E402

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "retrieval"
POOL = ["CCO", "CCCO", "CCCCO", "c1ccccc1", "c1ccccc1O", "CC(=O)O", "CCN", "C1CCCCC1", "bad((", "O=C=O"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    torch.manual_seed(3)
    return save_gin(GIN().eval(), tmp_path_factory.mktemp("gin") / "random.safetensors")


def test_importing_retrieval_and_prompts_does_not_import_torch():
    code = "import sys, icma_bench.retrieval, icma_bench.prompts, icma_bench.graph; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_embeddings_are_cached_by_content_and_verified(weights, tmp_path):
    first = embed_smiles(POOL, weights=weights, cache_dir=tmp_path)
    assert not first.from_cache and first.invalid == (8,) and first.embeddings.shape == (10, 300)
    again = embed_smiles(POOL, weights=weights, cache_dir=tmp_path, batch_size=3)
    assert again.from_cache and np.array_equal(again.embeddings, first.embeddings) and again.invalid == (8,)
    (npy,) = tmp_path.glob("gin-*.embeddings.npy")
    arr = np.load(npy)
    arr[0, 0] += 1.0
    np.save(npy, arr)  # tampered: the manifest's sha256 no longer matches
    fixed = embed_smiles(POOL, weights=weights, cache_dir=tmp_path)
    assert not fixed.from_cache and np.array_equal(fixed.embeddings, first.embeddings)
    other = embed_smiles(POOL[:5], weights=weights, cache_dir=tmp_path)  # other SMILES: another entry
    assert not other.from_cache and np.array_equal(other.embeddings, first.embeddings[:5])


def test_neighbours_from_smiles_equal_neighbours_from_the_embeddings(weights, tmp_path):
    queries = ["CCCCCO", "Oc1ccccc1C", "bad(("]
    nb = build_neighbours(queries, POOL, "graph", 4, cache_dir=tmp_path, weights=str(weights))
    q = embed_smiles(queries, weights=weights, cache_dir=False).embeddings
    p = embed_smiles(POOL, weights=weights, cache_dir=False).embeddings
    ref = build_neighbours(q, p, "graph", 4, cache_dir=False)
    assert np.array_equal(nb.indices, ref.indices) and np.array_equal(nb.scores, ref.scores)
    assert nb.invalid_queries == (2,) and nb.invalid_pool == (8,)
    assert (nb.scores[2] == 0).all() and 8 not in nb.indices[:2, :].tolist()
    cached = build_neighbours(queries, POOL, "graph", 4, cache_dir=tmp_path, weights=str(weights))
    assert cached.from_cache and np.array_equal(cached.indices, nb.indices)
    loo = build_neighbours(POOL, POOL, "graph", 3, exclude_self=True, cache_dir=False, weights=str(weights))
    assert not (loo.indices == np.arange(len(POOL))[:, None]).any()


def test_shipped_weights_give_documents_and_cli_files(tmp_path, capsys):
    assert SHIPPED.is_file(), f"shipped GIN weights missing: {SHIPPED}"
    docs = build_documents(
        "chebi20", "test", "mol2caption", shots=2, method="graph", data_path=FIXTURE, cache_dir=tmp_path
    )
    assert len(docs) == 3 and all(d["method"] == "graph" and d["n_shots_used"] == 2 for d in docs)
    assert [s["rank"] for s in docs[0]["shots"]] == [2, 1]
    rc = main(["retrieve", "--dataset", "chebi20", "--split", "test", "--method", "graph", "-k", "3",
               "--out", str(tmp_path), "--data", str(FIXTURE)])  # fmt: skip
    assert rc == 0
    out = tmp_path / "test_3_shot_mol2cap_gnn.txt"
    assert capsys.readouterr().out.strip() == str(out)
    parsed = load_icma_neighbours(out)
    assert list(parsed) == ["201", "202", "203"] and all(len(v) == 3 for v in parsed.values())
    top1 = {q: v[0][0] for q, v in parsed.items()}
    assert top1 == {d["cid"]: d["shots"][-1]["cid"] for d in docs}


def test_graph_weights_reach_the_documents_and_the_cli(weights, tmp_path):
    kw = {"data_path": FIXTURE, "cache_dir": False, "shots": 3, "method": "graph"}
    ours = build_documents("chebi20", "test", "mol2caption", graph_weights=weights, **kw)
    shipped = build_documents("chebi20", "test", "mol2caption", **kw)
    assert [s["score"] for s in ours[0]["shots"]] != [s["score"] for s in shipped[0]["shots"]]
    rc = main(["retrieve", "--dataset", "chebi20", "--split", "test", "--method", "graph", "-k", "3",
               "--out", str(tmp_path), "--data", str(FIXTURE), "--graph-weights", str(weights),
               "--no-cache"])  # fmt: skip
    assert rc == 0
    scores = [
        s for v in load_icma_neighbours(tmp_path / "test_3_shot_mol2cap_gnn.txt").values() for _, s in v
    ]
    assert scores[:3] == pytest.approx(sorted((s["score"] for s in ours[0]["shots"]), reverse=True))
    out = tmp_path / "val.npy"
    rc = main(["graph", "embed", "--dataset", "chebi20", "--split", "validation", "--data", str(FIXTURE),
               "--graph-weights", str(weights), "--out", str(out)])  # fmt: skip
    assert rc == 0 and np.load(out).shape == (2, 300)
