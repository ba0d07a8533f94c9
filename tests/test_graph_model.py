"""The GIN: pretrain-gnns parameter names, strict checkpoint loading, bitwise-deterministic embeddings."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_geometric")

from icma_bench.graph.embed import compute_embeddings  # noqa: E402
from icma_bench.graph.model import GIN  # noqa: E402
from icma_bench.graph.weights import load_gin, load_state, save_gin  # noqa: E402

SMILES = [
    "CCO", "c1ccccc1O", "C[C@H](N)C(=O)O", "F/C=C/F", "[Na+].[Cl-]", "*C(=O)O", "C", "O=C=O",
    "CC(C)CC1=CC=C(C=C1)C(C)C(=O)O", "C1CCC2(CC1)OCCO2", "OC[C@H]1O[C@@H](O)[C@H](O)[C@@H](O)[C@@H]1O",
    "N#Cc1ccccc1", "CCCCCCCCCCCCCCCC(=O)O", "c1ccc2ccccc2c1", "Cl/C=C\\Cl", "[O-][N+](=O)c1ccccc1",
]  # fmt: skip


def _random_gin(seed: int = 0) -> GIN:
    torch.manual_seed(seed)
    model = GIN()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so that loading them is tested too
        for bn in model.batch_norms:
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_parameter_names_are_pretrain_gnns():
    keys = set(GIN().state_dict())
    expected = {"x_embedding1.weight", "x_embedding2.weight"}
    for i in range(5):
        expected |= {f"gnns.{i}.mlp.{j}.{p}" for j in (0, 2) for p in ("weight", "bias")}
        expected |= {f"gnns.{i}.edge_embedding1.weight", f"gnns.{i}.edge_embedding2.weight"}
        expected |= {f"batch_norms.{i}.{p}" for p in ("weight", "bias", "running_mean", "running_var")}
        expected.add(f"batch_norms.{i}.num_batches_tracked")
    assert keys == expected
    state = GIN().state_dict()
    assert state["x_embedding1.weight"].shape == (120, 300) and state["x_embedding2.weight"].shape == (3, 300)
    assert state["gnns.0.edge_embedding1.weight"].shape == (6, 300)
    assert state["gnns.0.mlp.0.weight"].shape == (600, 300)


def test_safetensors_round_trip(tmp_path):
    model = _random_gin()
    path = save_gin(model, tmp_path / "w.safetensors", {"note": "test"})
    loaded, sha = load_gin(path)
    assert not loaded.training and len(sha) == 64
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    a, _ = compute_embeddings(SMILES, model)
    b, _ = compute_embeddings(SMILES, loaded)
    assert np.array_equal(a, b)


def test_pretrain_gnns_style_checkpoints(tmp_path):
    model = _random_gin(1)
    state = model.state_dict()
    plain = tmp_path / "masking.pth"  # GNN.state_dict(), as pretrain_masking.py saves it
    torch.save(state, plain)
    graphpred = tmp_path / "graphpred.pth"  # GNN_graphpred.state_dict(): gnn. prefix + prediction head
    torch.save(
        {**{f"gnn.{k}": v for k, v in state.items()}, "graph_pred_linear.weight": torch.zeros(1, 300)},
        graphpred,
    )
    old = tmp_path / "old.pth"  # an old checkpoint without BatchNorm counters
    torch.save({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}, old)
    for path in (plain, graphpred, old):
        loaded, _ = load_gin(path)
        for key in state:
            if not key.endswith("num_batches_tracked"):
                assert torch.equal(loaded.state_dict()[key], state[key]), (path.name, key)


def test_strict_loading_rejects_other_architectures(tmp_path):
    state = GIN().state_dict()
    with pytest.raises(ValueError, match="missing"):
        load_state(GIN(), {k: v for k, v in state.items() if k != "gnns.4.mlp.2.weight"})
    with pytest.raises(ValueError, match="unexpected"):
        load_state(GIN(), {**state, "extra.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="wrong shapes"):
        load_state(GIN(), GIN(emb_dim=64).state_dict())
    with pytest.raises(ValueError, match="missing"):
        load_state(GIN(), GIN(num_layer=3).state_dict())
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        load_gin(tmp_path / "nowhere.pth")


def test_embeddings_bitwise_identical_across_batch_sizes_and_order():
    model = _random_gin()
    ref, invalid = compute_embeddings(SMILES, model, batch_size=256)
    assert ref.dtype == np.float32 and ref.shape == (len(SMILES), 300) and invalid == ()
    for bs in (1, 2, 3, 5, 7, 16):
        emb, _ = compute_embeddings(SMILES, model, batch_size=bs)
        assert np.array_equal(emb, ref), bs
    order = np.random.default_rng(0).permutation(len(SMILES))
    shuffled, _ = compute_embeddings([SMILES[i] for i in order], model, batch_size=4)
    assert np.array_equal(shuffled, ref[order])
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single, _ = compute_embeddings(SMILES, model, batch_size=5)
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(single, ref)


def test_unparsable_smiles_get_a_zero_row_and_eval_mode_is_required():
    model = _random_gin()
    emb, invalid = compute_embeddings(["CCO", "nonsense((", "C"], model, batch_size=2)
    assert invalid == (1,) and not emb[1].any() and emb[0].any() and emb[2].any()
    model.train()
    with pytest.raises(ValueError, match="eval mode"):
        compute_embeddings(["CCO"], model)


def test_fused_forward_equals_message_passing_up_to_rounding():
    from icma_bench.graph.featurize import featurize_smiles
    from icma_bench.graph.model import collate, embed_batch, fuse_gin, pool_mean

    model = _random_gin(2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    graphs = [featurize_smiles(s) for s in SMILES]
    for min_rows in (0, 64):
        x, ei, ea, batch = collate(graphs, min_rows=min_rows)
        num_graphs = int(batch.max()) + 1
        with torch.inference_mode():
            ref = pool_mean(model(x, ei, ea), batch, num_graphs)
            fast = embed_batch(fuse_gin(model), x, ei, ea, batch, num_graphs)
        assert fast.shape == ref.shape == (num_graphs, 300)
        torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # fusing copies
    a, _ = compute_embeddings(SMILES, model)
    b, _ = compute_embeddings(SMILES, model, reference=True)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_featurising_workers_change_no_bit():
    model = _random_gin()
    smiles = SMILES * 3 + ["bad(("]
    one, inv_one = compute_embeddings(smiles, model, workers=1)
    two, inv_two = compute_embeddings(smiles, model, workers=2, batch_size=7)
    assert np.array_equal(one, two) and inv_one == inv_two == (len(smiles) - 1,)
