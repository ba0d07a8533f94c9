"""lm-eval task hook: the documents (``custom_dataset``) of every icma task.

Per-query retrieval cannot be an lm-eval few-shot sampler (samplers never see the document), so the whole ICMA
prompt is built here, at dataset-load time, by :func:`icma_bench.prompts.build_documents` from the retrieval
cache. lm-eval calls ``custom_dataset(**metadata, **dataset_kwargs)``: ``dataset_kwargs`` (YAML only) names the
task, ``metadata`` holds the YAML defaults merged with ``--metadata`` and ``--model_args``. Every option is
validated first (:mod:`icma_bench.harness.options`); the model arguments drive the context budget
(:mod:`icma_bench.harness.budget`), so lm-eval never left-truncates a prompt; the metric resources are resolved
before the model runs, so a missing tokenizer fails in seconds, not after the generation. Results:
:mod:`icma_bench.harness.scoring`.
"""

from __future__ import annotations

import logging
from typing import Any

from icma_bench.harness.budget import resolve_budget
from icma_bench.harness.options import DEFAULT_MAX_GEN_TOKS, TaskOptionError, validate_options

logger = logging.getLogger(__name__)

DIRECTIONS = ("mol2caption", "caption2mol")
VARIANTS = {"icma": "icma", "direct": "direct"}  # task variant -> prompts template
#: Warn when more than this share of a task's documents lost shots to the context budget.
LOST_SHOTS_WARNING = 0.01


# --------------------------------------------------------------------------------------------------- documents


def load_documents(*, dataset: str, direction: str, variant: str, **metadata: Any) -> dict[str, Any]:
    """``custom_dataset`` of every icma task: ``{"test": datasets.Dataset}`` of prompt documents.

    ``dataset``/``direction``/``variant`` come from the task YAML's ``dataset_kwargs``; everything else lm-eval
    passes (defaults, ``--metadata``, model arguments, its own keys) is validated by
    :func:`icma_bench.harness.options.validate_options`.
    """
    import datasets

    from icma_bench.prompts import build_documents

    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; the task YAML must set one of {DIRECTIONS}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; the task YAML must set one of {sorted(VARIANTS)}")
    show_progress = bool(metadata.pop("show_progress", False))
    opts = validate_options(metadata)
    check_metric_resources(direction, opts.protocol)
    pretrained = opts.model_args.get("pretrained")
    if not isinstance(pretrained, str) and pretrained is not None:
        pretrained = getattr(getattr(pretrained, "config", None), "_name_or_path", None)  # an in-memory model
    if not opts.galactica and isinstance(pretrained, str) and "galactica" in pretrained.lower():
        logger.warning(
            "%s looks like Galactica: pass --metadata galactica=true for its SMILES tags", pretrained
        )
    run = opts.run
    plan = resolve_budget(
        opts.budget,
        max_gen_toks=run.max_gen_toks if run is not None else DEFAULT_MAX_GEN_TOKS,
        pretrained=pretrained,
        tokenizer=opts.model_args.get("tokenizer"),
        revision=opts.model_args.get("revision"),
        max_length=opts.model_args.get("max_length"),
        max_model_len=opts.model_args.get("max_model_len"),
        backend=opts.model_args.get("backend"),
        model=run.model if run is not None else None,
    )
    template = VARIANTS[variant]
    method = (
        (opts.m2c_method if direction == "mol2caption" else opts.c2m_method) if template != "direct" else None
    )
    label = f"{dataset}/{direction}/{variant}"
    try:
        docs = build_documents(
            dataset,
            opts.eval_split,
            direction,
            shots=0 if template == "direct" else opts.shots,
            method=method,
            pool_split=opts.pool_split,
            k=opts.candidates,
            random_walk_p=opts.random_walk_p,
            seed=opts.random_walk_seed,
            reverse=opts.reverse,
            galactica=opts.galactica,
            template=template,
            budget=plan.limit,
            count_tokens=plan.count,
            data_path=opts.data_path,
            limit=opts.limit,
            show_progress=show_progress,
            sbert_model=opts.sbert_model,
            graph_weights=opts.graph_weights,
        )
    except FileNotFoundError as exc:
        raise type(exc)(
            f"{exc} (lm-eval: --metadata data_path=<folder or file>, or set ICMA_BENCH_DATA)"
        ) from None
    report_budget(docs, plan, label)
    for doc in docs:
        doc["protocol"] = opts.protocol
        doc["budget"] = plan.describe()
    logger.info("%s: %d documents, budget %s", label, len(docs), plan.describe())
    return {"test": datasets.Dataset.from_list(docs)}


def check_metric_resources(direction: str, protocol: str) -> None:
    """Resolve what the metrics will need (caption tokenizers, WordNet) before the model runs."""
    if direction != "mol2caption":
        return
    from icma_bench.metrics import (
        ResourceNotFoundError,
        load_caption_tokenizer,
        load_icma_tokenizer,
        parse_protocols,
    )
    from icma_bench.metrics.resources import find_wordnet

    protocols = parse_protocols(protocol)
    find_wordnet()
    if any(p != "icma" for p in protocols):
        load_caption_tokenizer(None)
    if "icma" in protocols:
        try:
            load_icma_tokenizer()
        except ResourceNotFoundError as exc:
            raise ResourceNotFoundError(
                f"{exc} Or leave icma out: --metadata protocol=molt5+strict"
            ) from None


def report_budget(docs: list[dict], plan, label: str) -> None:
    """Warn when the budget dropped shots from more than 1 % of the documents, or could not fit a query at all."""
    if not docs:
        return
    lost = sum(d["n_shots_used"] < d["n_shots_requested"] for d in docs)
    if lost and lost > LOST_SHOTS_WARNING * len(docs):
        mean = sum(d["n_shots_used"] for d in docs) / len(docs)
        logger.warning(
            "%s: the context budget (%s) dropped shots from %d of %d documents (%.1f %%; mean shots used %.2f of "
            "%d requested). Raise max_length in --model_args, or lower --metadata shots.",
            label,
            plan.describe(),
            lost,
            len(docs),
            100 * lost / len(docs),
            mean,
            docs[0]["n_shots_requested"],
        )
    over = sum(1 for doc in docs if doc.get("query_exceeds_budget"))
    if over:
        logger.warning(
            "%s: %d of %d queries exceed the budget of %s even with no shots; the backend will left-truncate them",
            label,
            over,
            len(docs),
            plan.describe(),
        )


__all__ = ["TaskOptionError", "check_metric_resources", "load_documents", "report_budget"]
