"""GIN weights: the shipped safetensors file, our own safetensors, and pretrain-gnns / Mole-BERT ``.pth`` state dicts.

Loading is strict: every parameter and buffer of :class:`~icma_bench.graph.model.GIN` must be present with its
shape, and nothing else may be (a checkpoint of another architecture is an error, never a silent partial load).
``.pth`` files are read with ``torch.load(weights_only=True)`` (no pickle code runs).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch

from icma_bench.graph.model import GIN

logger = logging.getLogger(__name__)

SHIPPED = Path(__file__).resolve().parent / "checkpoints" / "gin_masking_v1.safetensors"
SHIPPED_NAME = "icma-gin-masking-v1"
_OPTIONAL = (
    "num_batches_tracked",
)  # BatchNorm counters: unused in eval mode, absent from some old checkpoints
_HEADS = ("graph_pred_linear.",)  # pretrain-gnns' GNN_graphpred head: not part of the encoder


def hash_file(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (the weights' identity in cache keys)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_weights(path: str | os.PathLike | None = None) -> Path:
    """The weights file to use: ``path`` or the shipped weights; a missing file is an error naming it."""
    p = SHIPPED if path is None else Path(path).expanduser()
    if not p.is_file():
        hint = " (the package's shipped weights are missing: reinstall icma-bench)" if path is None else ""
        raise FileNotFoundError(f"GIN weights not found: {p}{hint}")
    return p


def _normalise_keys(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """pretrain-gnns saves either ``GNN.state_dict()`` or ``GNN_graphpred.state_dict()`` (``gnn.`` prefix + head)."""
    if state and all(k.startswith("gnn.") or k.startswith(_HEADS) for k in state):
        dropped = sorted(k for k in state if k.startswith(_HEADS))
        if dropped:
            logger.info("%s: ignoring the prediction head %s", source, dropped)
        state = {k[len("gnn.") :]: v for k, v in state.items() if k.startswith("gnn.")}
    return state


def load_state(model: GIN, state: dict[str, torch.Tensor], source: str = "<state dict>") -> GIN:
    """Copy ``state`` into ``model`` with a strict key and shape check (``num_batches_tracked`` may be absent)."""
    state = _normalise_keys(dict(state), source)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(_OPTIONAL)]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k}: {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{source} is not a 5-layer, 300-dim pretrain-gnns/Mole-BERT GIN: "
            f"missing {missing[:6]}{'...' if len(missing) > 6 else ''}, unexpected {unexpected[:6]}, "
            f"wrong shapes {wrong[:6]}"
        )
    full = {k: state.get(k, expected[k]) for k in expected}
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in full.items()}, strict=True)
    return model


def read_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file or of a ``torch.save``-d state dict (``weights_only=True``)."""
    p = Path(path)
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(p))
    obj = torch.load(str(p), map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{p} holds no state dict of tensors")
    return obj


def load_gin(path: str | os.PathLike | None = None) -> tuple[GIN, str]:
    """The encoder in eval mode and its weights' sha256: the shipped weights, or ``path`` (ours or pretrain-gnns)."""
    p = resolve_weights(path)
    model = load_state(GIN(), read_state(p), source=str(p))
    model.eval()
    return model, hash_file(p)


def save_gin(model: GIN, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> Path:
    """Write the encoder's state dict as safetensors (float32, contiguous; string metadata kept in the header)."""
    from safetensors.torch import save_file

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}
    save_file(state, str(p), metadata=meta)
    return p
