"""In-Context Molecule Tuning (ICMA) for any Hugging Face causal or seq2seq model.

``load_config`` reads a recipe (YAML) into a validated, frozen config; ``run_finetune`` trains it. The prompts come
from :mod:`icma_bench.prompts`, the same code the evaluation tasks use (``finetune`` never imports ``harness``).
"""

from icma_bench.finetune.config import ConfigError, FinetuneConfig, load_config, shipped_recipes

__all__ = ["ConfigError", "FinetuneConfig", "load_config", "run_finetune", "describe_run", "shipped_recipes"]


def run_finetune(cfg):  # noqa: D103 - lazy: transformers loads only when a run starts
    from icma_bench.finetune.recipe import run_finetune as _run

    return _run(cfg)


def describe_run(cfg):  # noqa: D103
    from icma_bench.finetune.recipe import describe_run as _describe

    return _describe(cfg)
