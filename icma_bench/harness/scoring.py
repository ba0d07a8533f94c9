"""lm-eval result hooks: per-document results (``process_results``) and the corpus aggregation every metric of the
task YAMLs names (``aggregate``).

The MolT5 metrics are corpus-level (BLEU over the corpus, METEOR/ROUGE means over pairs, fingerprint means over
valid outputs), so nothing is scored per document in ``process_results``. It returns, under ``scored``, the
document's record (post-processed prediction, reference, shots used) and for every other metric a reference to it
(metric name, content digest). :data:`aggregate` meets the records first (lm-eval aggregates the keys in the order
``process_results`` returned them), runs :func:`icma_bench.metrics.compute` once per task (all protocols, with
per-document scores), writes each document's scores into its record -- the same object lm-eval writes to the
samples log, so ``--log_samples`` carries them without the corpus work being done twice -- and answers every
other metric of that corpus from a memo keyed by the corpus' content digests.

Reported per task: ``scored`` (documents scored), ``shots_used`` (mean in-context examples per prompt after the
context budget), the scores of every protocol (``molt5`` plain, others ``<protocol>_``-prefixed), and three text
entries kept in the results JSON: ``signature`` (how the numbers were computed), ``counts`` (what was counted:
empty, unparsable, ...) and ``budget`` (what the context budget did).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from typing import Any

from icma_bench.prompts import extract_answer

logger = logging.getLogger(__name__)

SCORED = "scored"  # the record-carrying key; its aggregate is the number of documents scored
SIGNATURE = "signature"  # how the numbers were computed (protocol, tokenizer, versions): a string
COUNTS = "counts"  # the counts behind them (outputs, empty, invalid, ...): a string
BUDGET = "budget"  # what the context budget did (shots requested / used, documents that lost shots): a string
SHOTS_USED = "shots_used"  # mean shots per prompt after the budget: a number
TEXT_ENTRIES = (SIGNATURE, COUNTS, BUDGET)


def harness_key(metric: str, protocol: str) -> str:
    """The task-level name of ``metric`` under ``protocol``: MolT5's names plain, every other protocol prefixed."""
    return metric if protocol == "molt5" else f"{protocol}_{metric}"


#: Protocols that score a direction exactly as another one does: reported once, under the other's names.
#: Captions have no validity notion (strict == molt5); molecules are scored by MolT5's scripts under icma.
SAME_AS = {"mol2caption": {"strict": "molt5"}, "caption2mol": {"icma": "molt5"}}


def reported_protocols(direction: str, protocol: str) -> tuple[str, ...]:
    """The protocols whose scores a task reports: those asked for, less any that repeats another one asked for."""
    from icma_bench.metrics import parse_protocols

    asked = parse_protocols(protocol)
    same = SAME_AS[direction]
    return tuple(p for p in asked if same.get(p) not in asked)


def score_keys(direction: str, protocol: str = "molt5+icma+strict") -> list[str]:
    """The reported score names of ``direction`` under ``protocol`` (a name, or several joined by ``+``)."""
    from icma_bench.metrics import metric_names

    base = metric_names(direction)
    return [harness_key(name, p) for p in reported_protocols(direction, protocol) for name in base]


def reported_metrics(direction: str, protocol: str = "molt5+icma+strict") -> list[str]:
    """Every key :func:`process_results` returns, in order (each task YAML lists those of every protocol)."""
    return [SCORED, *TEXT_ENTRIES, SHOTS_USED, *score_keys(direction, protocol)]


def process_results(doc: dict, results: list[str]) -> dict[str, Any]:
    """``process_results`` of every icma task: the record under ``scored``, a reference to it elsewhere."""
    direction, protocol = doc["task"], doc["protocol"]
    prediction = extract_answer(results[0] if results else "", direction)
    digest = _digest(direction, protocol, prediction, doc["target"])
    record = {
        "prediction": prediction,
        "reference": doc["target"],
        "n_shots_requested": doc.get("n_shots_requested", 0),
        "n_shots_used": doc.get("n_shots_used", 0),
        "query_exceeds_budget": bool(doc.get("query_exceeds_budget", False)),
        "budget": doc.get("budget", ""),
        "task": direction,
        "protocol": protocol,
        "digest": digest,
    }
    # The first key carries the record: lm-eval aggregates the keys in the order of this dict.
    return {key: record if key == SCORED else (key, digest) for key in reported_metrics(direction, protocol)}


def _digest(direction: str, protocol: str, prediction: str, reference: str) -> str:
    payload = json.dumps([direction, protocol, prediction, reference], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]


def _corpus_key(digests) -> str:
    h = hashlib.sha256()
    for digest in digests:
        h.update(digest.encode("ascii"))
    return h.hexdigest()


def summarise_budget(records: list[dict]) -> dict[str, Any]:
    """What the context budget did to a task's documents."""
    used = [int(r["n_shots_used"]) for r in records]
    requested = max((int(r["n_shots_requested"]) for r in records), default=0)
    lost = sum(int(r["n_shots_used"]) < int(r["n_shots_requested"]) for r in records)
    return {
        "shots_requested": requested,
        "shots_used_mean": round(sum(used) / len(used), 4) if used else 0.0,
        "shots_used_min": min(used, default=0),
        "docs_lost_shots": lost,
        "queries_over_budget": sum(bool(r["query_exceeds_budget"]) for r in records),
        "limit": records[0]["budget"] if records else "",
    }


class CorpusAggregation:
    """The ``aggregation`` of every icma metric: scores a corpus once, answers each metric from that."""

    def __init__(self, memo_size: int = 32) -> None:
        self._memo: OrderedDict[str, tuple[Any, dict]] = OrderedDict()
        self._memo_size = memo_size

    def __repr__(self) -> str:  # what lm-eval writes into the results' task configs
        return "icma_bench.harness.scoring.aggregate"

    def __call__(self, items: list) -> float | int | str:
        if not items:
            raise ValueError("no documents to aggregate")
        first = items[0]
        if isinstance(first, dict):
            metric, key = SCORED, _corpus_key(item["digest"] for item in items)
            if key not in self._memo:
                self._remember(key, self._score(items))
        else:
            metric, key = first[0], _corpus_key(item[1] for item in items)
            if key not in self._memo:
                raise RuntimeError(
                    f"{metric}: the corpus was not scored yet; the record-carrying `{SCORED}` entry must be "
                    "aggregated first (keep process_results' key order and every task's metric_list intact)"
                )
        result, budget = self._memo[key]
        if metric == SCORED:
            return len(items)
        if metric == SIGNATURE:
            return result.signature_string
        if metric == COUNTS:
            return "|".join(f"{name}:{value}" for name, value in result.counts.items())
        if metric == BUDGET:
            return "|".join(f"{name}:{value}" for name, value in budget.items())
        if metric == SHOTS_USED:
            return float(budget["shots_used_mean"])
        protocol, name = _split_key(metric, result.protocols)
        return float(result.scores[result.key(name, protocol)])

    def _score(self, records: list[dict]) -> tuple[Any, dict]:
        from icma_bench.metrics import compute

        direction, protocol = records[0]["task"], records[0]["protocol"]
        if any(r["task"] != direction or r["protocol"] != protocol for r in records):
            raise ValueError("one aggregation mixes documents of different tasks or protocols")
        predictions = [r["prediction"] for r in records]
        references = [r["reference"] for r in records]
        protocols = reported_protocols(direction, protocol)
        result = compute(direction, predictions, references, protocol=protocols, per_item=True)
        # Per-document scores into each record: the same dicts lm-eval writes to the samples log.
        for p, columns in result.items.items():
            for name, values in columns.items():
                for record, value in zip(records, values, strict=True):
                    record.setdefault("scores", {})[harness_key(name, p)] = value
        result.items = {}  # not kept in the memo
        return result, summarise_budget(records)

    def _remember(self, key: str, value: tuple[Any, dict]) -> None:
        self._memo[key] = value
        while len(self._memo) > self._memo_size:
            self._memo.popitem(last=False)


def _split_key(metric: str, protocols: tuple[str, ...]) -> tuple[str, str]:
    for p in protocols:
        if p != "molt5" and metric.startswith(f"{p}_"):
            return p, metric[len(p) + 1 :]
    return "molt5", metric


#: The single aggregation object the task YAMLs name: ``aggregation: !function icma_bench.harness.scoring.aggregate``.
aggregate = CorpusAggregation()
