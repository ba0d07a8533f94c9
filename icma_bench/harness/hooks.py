"""lm-eval task hooks: documents (``custom_dataset``), per-document results (``process_results``), and the corpus
aggregation every metric of the task YAMLs names.

Documents. Per-query retrieval cannot be an lm-eval few-shot sampler (samplers never see the document), so the whole
ICMA prompt is built here, at dataset-load time, by :func:`icma_bench.prompts.build_documents` from the retrieval
cache. lm-eval calls ``custom_dataset(**metadata, **dataset_kwargs)``: ``dataset_kwargs`` (YAML only) names the task,
``metadata`` holds the YAML defaults merged with ``--metadata`` and ``--model_args``; the model arguments drive the
context budget (:mod:`icma_bench.harness.budget`), so lm-eval never left-truncates a prompt.

Metrics. The MolT5 metrics are corpus-level (BLEU over the corpus, METEOR/ROUGE means over pairs, fingerprint means
over valid outputs), so nothing is scored per document. ``process_results`` returns, under ``signature``, the
document's full record (task, post-processed prediction, reference) and for every other metric a reference to it
(metric name, content digest). :data:`aggregate` computes :func:`icma_bench.metrics.compute` once per task (all
protocols in one call) when it meets the records, memoised on the digests of the corpus, and answers every other metric of that
corpus from the memo. The samples log thus holds each prediction once, not once per metric.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import OrderedDict
from typing import Any

from icma_bench.harness.budget import resolve_budget

logger = logging.getLogger(__name__)

DIRECTIONS = ("mol2caption", "caption2mol")
VARIANTS = {"icma": "icma", "direct": "direct"}  # task variant -> prompts template
PROTOCOLS = ("both", "molt5", "strict")
SIGNATURE = "signature"  # how the numbers were computed (protocol, tokenizer, versions): a string
COUNTS = "counts"  # the counts behind them (outputs, empty, invalid, ...): a string
STRICT_PREFIX = "strict_"
ANSWER_PREFIX = {"mol2caption": "Caption:", "caption2mol": "Molecule:"}
GALACTICA_TAG = re.compile(r"\[(?:START|END)_(?:I_)?SMILES\]")


# --------------------------------------------------------------------------------------------------- documents


def load_documents(
    *,
    dataset: str,
    direction: str,
    variant: str,
    shots: int = 2,
    m2c_method: str | None = None,
    c2m_method: str | None = None,
    random_walk_p: float = 0.0,
    random_walk_seed: int = 0,
    candidates: int | None = None,
    reverse: bool = True,
    galactica: bool = False,
    pool_split: str = "train",
    eval_split: str = "test",
    data_path: str | None = None,
    limit: int | None = None,
    protocol: str = "both",
    budget: int | str | None = "auto",
    max_gen_toks: int = 256,
    pretrained: Any = None,
    tokenizer: Any = None,
    revision: str | None = None,
    max_length: int | None = None,
    max_model_len: int | None = None,
    show_progress: bool = False,
    graph_weights: str | None = None,
    **_unused: Any,
) -> dict[str, Any]:
    """``custom_dataset`` of every icma task: ``{"test": datasets.Dataset}`` of prompt documents.

    ``_unused`` takes the rest of lm-eval's metadata (``version``, ``config_source``, other model arguments).
    """
    import datasets

    from icma_bench.prompts import build_documents

    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; the task YAML must set one of {DIRECTIONS}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; the task YAML must set one of {sorted(VARIANTS)}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
    if isinstance(galactica, str) or isinstance(reverse, str):
        raise ValueError("galactica and reverse take true or false (e.g. --metadata galactica=true)")
    if not isinstance(pretrained, str) and pretrained is not None:
        pretrained = getattr(getattr(pretrained, "config", None), "_name_or_path", None)  # an in-memory model
    if galactica is False and isinstance(pretrained, str) and "galactica" in pretrained.lower():
        logger.warning(
            "%s looks like Galactica: pass --metadata galactica=true for its SMILES tags", pretrained
        )

    plan = resolve_budget(
        budget,
        max_gen_toks=max_gen_toks,
        pretrained=pretrained,
        tokenizer=tokenizer,
        revision=revision,
        max_length=max_length,
        max_model_len=max_model_len,
    )
    template = VARIANTS[variant]
    method = (m2c_method if direction == "mol2caption" else c2m_method) if template != "direct" else None
    docs = build_documents(
        dataset,
        eval_split,
        direction,
        shots=0 if template == "direct" else int(shots),
        method=method,
        pool_split=pool_split,
        k=None if candidates is None else int(candidates),
        random_walk_p=float(random_walk_p),
        seed=int(random_walk_seed),
        reverse=reverse,
        galactica=galactica,
        template=template,
        budget=plan.limit,
        count_tokens=plan.count,
        data_path=data_path,
        limit=None if limit is None else int(limit),
        show_progress=show_progress,
        graph_weights=graph_weights,
    )
    _check_budget(docs, plan, f"{dataset}/{direction}/{variant}")
    for doc in docs:
        doc["protocol"] = protocol
        doc["budget"] = plan.describe()
    logger.info("%s %s %s: %d documents, budget %s", dataset, direction, variant, len(docs), plan.describe())
    return {"test": datasets.Dataset.from_list(docs)}


def _check_budget(docs: list[dict], plan, label: str) -> None:
    """Warn about the queries that exceed the budget on their own (the backend will left-truncate those)."""
    over = sum(1 for doc in docs if doc.get("query_exceeds_budget"))
    if over:
        logger.warning(
            "%s: %d of %d queries exceed the budget of %s even with no shots; the backend will left-truncate them",
            label,
            over,
            len(docs),
            plan.describe(),
        )


# --------------------------------------------------------------------------------------------------- results


def extract_answer(text: str | None, direction: str) -> str:
    """A model's answer as scored (DESIGN.md §2): first non-empty line, without the ``Caption:``/``Molecule:``
    prefix of ``direction`` and without Galactica's SMILES tags; "" when there is none."""
    if not text:
        return ""
    line = next((line for line in text.splitlines() if line.strip()), "").strip()
    prefix = ANSWER_PREFIX[direction]
    if line.startswith(prefix):
        line = line[len(prefix) :]
    return GALACTICA_TAG.sub("", line).strip()


def score_keys(direction: str, protocol: str = "both") -> list[str]:
    """The reported score names: the MolT5 names, ``strict_``-prefixed under the strict protocol."""
    from icma_bench.metrics import metric_names

    if protocol == "strict":  # compute(protocol="strict") names its scores without the prefix
        return [f"{STRICT_PREFIX}{name}" for name in metric_names(direction, "strict")]
    return metric_names(direction, protocol)


def reported_metrics(direction: str, protocol: str = "both") -> list[str]:
    """Every key :func:`process_results` returns, in order (each task YAML lists the same for ``both``)."""
    return [SIGNATURE, COUNTS, *score_keys(direction, protocol)]


def process_results(doc: dict, results: list[str]) -> dict[str, Any]:
    """``process_results`` of every icma task: the record under ``signature``, a reference to it elsewhere."""
    direction, protocol = doc["task"], doc["protocol"]
    prediction = extract_answer(results[0] if results else "", direction)
    digest = _digest(direction, protocol, prediction, doc["target"])
    record = {
        "task": direction,
        "protocol": protocol,
        "prediction": prediction,
        "reference": doc["target"],
        "digest": digest,
    }
    # The first key carries the record: lm-eval aggregates the keys in the order of this dict.
    return {
        key: record if key == SIGNATURE else (key, digest) for key in reported_metrics(direction, protocol)
    }


def _digest(direction: str, protocol: str, prediction: str, reference: str) -> str:
    payload = json.dumps([direction, protocol, prediction, reference], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]


def _corpus_key(digests) -> str:
    h = hashlib.sha256()
    for digest in digests:
        h.update(digest.encode("ascii"))
    return h.hexdigest()


class CorpusAggregation:
    """The ``aggregation`` of every icma metric: scores a corpus once, answers each metric from that.

    lm-eval calls it once per metric with that metric's per-document values, in the order ``process_results``
    returned the keys; ``signature`` comes first with the records, so its call runs
    :func:`icma_bench.metrics.compute` once for the task (all protocols in one call) and memoises the result by the
    content digests of the corpus; the other metrics' calls read the memo.
    """

    def __init__(self, memo_size: int = 32) -> None:
        self._memo: OrderedDict[str, Any] = OrderedDict()
        self._memo_size = memo_size

    def __repr__(self) -> str:  # what lm-eval writes into the results' task configs
        return "icma_bench.harness.hooks.aggregate"

    def __call__(self, items: list) -> float | str:
        if not items:
            raise ValueError("no documents to aggregate")
        first = items[0]
        if isinstance(first, dict):
            metric, key = SIGNATURE, _corpus_key(item["digest"] for item in items)
            if key not in self._memo:
                self._remember(key, self._score(items))
        else:
            metric, key = first[0], _corpus_key(item[1] for item in items)
            if key not in self._memo:
                raise RuntimeError(
                    f"{metric}: the corpus was not scored yet; the record-carrying `signature` entry must be "
                    "aggregated first (keep process_results' key order and every task's metric_list intact)"
                )
        result = self._memo[key]
        if metric == SIGNATURE:
            return result.signature_string
        if metric == COUNTS:
            return "|".join(f"{name}:{value}" for name, value in result.counts.items())
        if result.protocol == "strict":
            metric = metric.removeprefix(STRICT_PREFIX)
        return float(result.scores[metric])

    def _score(self, records: list[dict]) -> Any:
        from icma_bench.metrics import compute

        direction, protocol = records[0]["task"], records[0]["protocol"]
        if any(r["task"] != direction or r["protocol"] != protocol for r in records):
            raise ValueError("one aggregation mixes documents of different tasks or protocols")
        predictions = [r["prediction"] for r in records]
        references = [r["reference"] for r in records]
        return compute(direction, predictions, references, protocol=protocol)

    def _remember(self, key: str, result: Any) -> None:
        self._memo[key] = result
        while len(self._memo) > self._memo_size:
            self._memo.popitem(last=False)


#: The single aggregation object the task YAMLs name: ``aggregation: !function icma_bench.harness.hooks.aggregate``.
aggregate = CorpusAggregation()
