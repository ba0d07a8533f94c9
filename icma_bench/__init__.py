"""icma-bench: molecule <-> text translation benchmark for lm-evaluation-harness (ICMA prompts, MolT5 metrics)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("icma-bench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
