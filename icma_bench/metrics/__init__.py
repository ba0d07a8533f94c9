"""Metrics for molecule <-> text translation, exactly as MolT5's evaluation scripts compute them (protocol ``molt5``),
with a ``strict`` protocol beside them. See :func:`compute`.
"""

from icma_bench.metrics.protocols import (
    CAPTION_METRICS,
    LOWER_IS_BETTER,
    MOLECULE_METRICS,
    PROTOCOLS,
    TASKS,
    MetricResult,
    compute,
    metric_names,
    parse_protocols,
)
from icma_bench.metrics.resources import ResourceNotFoundError, load_caption_tokenizer, load_icma_tokenizer

__all__ = [
    "CAPTION_METRICS",
    "LOWER_IS_BETTER",
    "MOLECULE_METRICS",
    "PROTOCOLS",
    "TASKS",
    "MetricResult",
    "ResourceNotFoundError",
    "compute",
    "load_caption_tokenizer",
    "load_icma_tokenizer",
    "metric_names",
    "parse_protocols",
]
