"""``icma-bench leaderboard check``: re-score a submission and refuse it when its numbers do not reproduce.

A submission is either lm-eval output (``results_*.json`` with the ``samples_*.jsonl`` of ``--log_samples``: the
samples are re-scored and must give the results file's numbers), or a prediction file with a manifest whose runs
state ``claimed`` scores (``claimed: {mol2caption: {icma: {bleu4: 0.525}}}``; claims are compared at the precision
they are written with: a claim of 0.525 accepts 0.5245 ... 0.5255).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from icma_bench.leaderboard.bootstrap import BootstrapConfig
from icma_bench.leaderboard.collect import collect_inputs
from icma_bench.leaderboard.sources import BoardInputError


@dataclass
class CheckReport:
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _half_unit(value: float) -> float:
    exponent = Decimal(repr(float(value))).normalize().as_tuple().exponent
    return 0.5 * 10.0 ** min(int(exponent), 0) if isinstance(exponent, int) else 0.0


def check_submission(
    paths: list[Path], *, data_paths: dict[str, Path], released: Path | None = None
) -> CheckReport:
    """Re-score every run of the submission; every disagreement is a problem (naming file, task, metric)."""
    from icma_bench.leaderboard.board import measure_inputs

    inputs = collect_inputs(paths, released=released)
    report = CheckReport()
    for run in inputs.results:
        if run.samples is None:
            report.problems.append(
                f"{run.path}: {run.task_name} has no samples file beside it: run lm_eval with --log_samples"
            )
    if inputs.reported:
        report.problems.append("reported rows cannot be checked: a submission brings outputs, not numbers")
    for run in inputs.predictions:
        if not run.claimed:
            report.problems.append(
                f"{run.manifest}: {run.provenance.model} {run.task}: no 'claimed' scores to check"
            )
    inputs.results = [r for r in inputs.results if r.samples is not None]
    try:
        # NOTE: a single resample is enough: the check compares point values, never intervals.
        measured = measure_inputs(inputs, BootstrapConfig(resamples=1), data_paths)
    except BoardInputError as exc:
        report.problems.append(str(exc))
        return report
    claims = [r.claimed for r in inputs.predictions] + [{}] * len(inputs.results)
    for item, claimed, where in zip(
        measured,
        claims,
        [str(r.path) for r in inputs.predictions] + [str(r.path) for r in inputs.results],
        strict=True,
    ):
        for convention, scores in claimed.items():
            if convention not in item.measurement.protocols:
                report.problems.append(f"{where}: {item.task}: unknown convention {convention!r}")
                continue
            mine = item.measurement.protocols[convention].scores
            for metric, value in scores.items():
                got = mine.get(metric)
                if got is None:
                    report.problems.append(
                        f"{where}: {item.task}/{convention}: unknown or undefined metric {metric!r}"
                    )
                elif abs(got - float(value)) > _half_unit(value) + 1e-12:
                    report.problems.append(
                        f"{where}: {item.task}/{convention}: {metric} claimed {value} but re-scores to {got:.6f}"
                    )
        report.checked.append(f"{where}: {item.provenance.model} {item.task}")
    return report
