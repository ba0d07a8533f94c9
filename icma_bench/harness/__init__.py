"""lm-eval integration: task hooks, baseline models, discovery (the start-up hook) and the context budget.

The only layer that imports ``lm_eval``; importing this package itself imports nothing heavy.
"""

from icma_bench.harness.discovery import install, task_dir

__all__ = ["install", "task_dir"]
