"""FCD (Fréchet ChemNet Distance), optional: the ``fcd`` extra.

Follows MolT5's ``evaluation/fcd_metric.py``: an empty output becomes ``"[]"``, both sides are canonicalised by
``fcd.canonical_smiles`` and unparsable ones dropped, then ``fcd.get_fcd(ground_truth, outputs, model)``.

CAVEAT (documented in the README): the maintained ``fcd`` package (1.2.x, PyTorch, ChemNet weights shipped, works
offline) gives 7.04 on MolT5-large's released outputs where the MolT5 paper reports 1.20, computed with the
TensorFlow ``fcd`` 1.1. FCD values are comparable only between runs with the same ``fcd`` version (in the signature).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache

from icma_bench.metrics.resources import ResourceNotFoundError, package_version

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _model():
    try:
        import fcd
    except ImportError:
        raise ResourceNotFoundError(
            "FCD needs the optional `fcd` package: pip install -e '.[fcd]' in a checkout (the `fcd` extra)"
        ) from None
    return fcd.load_ref_model()


def fcd_signature() -> str:
    return f"fcd-{package_version('fcd')}"


def compute_fcd(predictions: Sequence[str], references: Sequence[str], *, protocol: str = "molt5") -> float:
    """FCD between reference and output molecules. ``strict`` drops nothing silently: it uses the same sets
    (FCD compares distributions; invalid outputs are excluded by construction and counted in ``validity``)."""
    import fcd

    from icma_bench.chem import quiet_rdkit

    model = _model()
    outputs = [p if len(p) else "[]" for p in predictions]  # MolT5: `if len(ot_smi) == 0: ot_smi = '[]'`
    with quiet_rdkit():
        gt = [s for s in fcd.canonical_smiles(list(references)) if s is not None]
        ot = [s for s in fcd.canonical_smiles(outputs) if s is not None]
    if len(ot) < 2 or len(gt) < 2:
        logger.warning(
            "FCD needs at least two valid molecules per side (got %d outputs, %d references)",
            len(ot),
            len(gt),
        )
        return float("nan")
    return float(fcd.get_fcd(gt, ot, model))
