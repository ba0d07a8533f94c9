"""ICMA prompts: the authors' templates byte for byte, direct (zero-shot) prompts, and documents with retrieved shots.

Templates (phenixace/ICMA ``utils.py``: ``retrieve_m2c_prompts`` / ``retrieve_c2m_prompts``; ``dataset.py``:
``RetrievalDataset`` strips the assembled prompt, ``ZeroShotDataset`` holds the direct prompts). With sequence
reversal (ICMA's default) the shots run rank n ... rank 1 and the most similar one sits right before the query.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from typing import Any, TypedDict

import numpy as np
from tqdm.auto import tqdm

from icma_bench.data import Record, load_split
from icma_bench.retrieval import build_neighbours
from icma_bench.retrieval.neighbours import MOLECULE_METHODS, TEXT_METHODS
from icma_bench.retrieval.rerank import select_bucket_positions, select_positions

logger = logging.getLogger(__name__)

TASKS = ("mol2caption", "caption2mol")
TEMPLATES = ("icma", "direct")
DEFAULT_METHOD = {"mol2caption": "rdkit_fp", "caption2mol": "bm25"}
# Methods that search the query's own modality (searching the other one would read the reference answer).
TASK_METHODS = {
    "mol2caption": (*MOLECULE_METHODS, "graph", "random"),
    "caption2mol": (*TEXT_METHODS, "random"),
}
DEFAULT_CANDIDATES = 10  # ICMA's neighbour files hold 10 candidates per query

M2C_SHOT = "Generate a caption for the molecule: {smiles}\nCaption: {caption}\n\n"
M2C_QUERY = (
    "Based on the above examples, analyse the similarities and differences between the examples and finally "
    "generate a caption for the molecule: {smiles}. \n"
)
C2M_SHOT = "Generate a molecule for the caption: {caption}\nMolecule: {smiles}\n\n"
C2M_QUERY = (
    "Based on the above examples, analyse the similarities and differences between the examples and finally "
    "generate a molecule for the caption: {caption}\n"
)
M2C_DIRECT = "Generate a caption for the molecule: {smiles}\n"
# NOTE: ICMA's ZeroShotDataset prompt (DESIGN.md); its utils.retrieve_c2m_zero_prompts says "... for the caption: ".
C2M_DIRECT = "Generate a molecule that: {caption}\n"
GALACTICA_SMILES = "[START_I_SMILES]{smiles}[END_I_SMILES]"
# ICMA's ZeroShotDataset(add_special_token=True), the zero-shot prompts it gives Galactica: a chat frame around the
# direct prompt; caption2mol ends with "## Assistant: " and the answer (a tagged SMILES) follows on that line.
M2C_DIRECT_GALACTICA = "## User: " + M2C_DIRECT
C2M_DIRECT_GALACTICA = "## User: " + C2M_DIRECT + "## Assistant: "


# How an answer is read back (DESIGN.md §2), in evaluation and in fine-tuning's validation alike.
ANSWER_PREFIX = {"mol2caption": "Caption:", "caption2mol": "Molecule:"}
GALACTICA_TAG = re.compile(r"\[(?:START|END)_(?:I_)?SMILES\]")


def extract_answer(text: str | None, task: str) -> str:
    """A model's answer as scored: first non-empty line, without the ``Caption:``/``Molecule:`` prefix of ``task``
    and without Galactica's SMILES tags; "" when there is none."""
    if not text:
        return ""
    line = next((line for line in text.splitlines() if line.strip()), "").strip()
    prefix = ANSWER_PREFIX[task]
    if line.startswith(prefix):
        line = line[len(prefix) :]
    return GALACTICA_TAG.sub("", line).strip()


class ShotInfo(TypedDict):
    cid: str
    smiles: str
    description: str
    score: float
    rank: int  # 1 = most similar candidate of this query


class PromptDoc(TypedDict, total=False):
    doc_id: int
    cid: str
    task: str
    dataset: str
    split: str
    query: str
    prompt: str
    target: str
    shots: list[ShotInfo]  # in the order they appear in the prompt
    n_shots_requested: int
    n_shots_used: int
    method: str | None
    pool_split: str | None
    pool_source: str | None  # the file the shots came from
    leave_one_out: bool  # the pool is the evaluated split: each query's own row excluded
    template: str
    galactica: bool
    prompt_length: int | None  # tokens (count_tokens) or characters; None without a budget
    query_exceeds_budget: bool


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {list(TASKS)}")


def _smiles(s: str, galactica: bool) -> str:
    s = s.strip()
    return GALACTICA_SMILES.format(smiles=s) if galactica else s


def render_prompt(
    task: str,
    query_text: str,
    shots: Sequence[tuple[str, str]] = (),
    *,
    template: str = "icma",
    galactica: bool = False,
    reverse: bool = True,
) -> str:
    """The prompt for one query. ``query_text``: SMILES (mol2caption) or caption (caption2mol); ``shots``:
    ``(smiles, caption)`` pairs in rank order (most similar first). Fields are stripped, as ICMA strips them.

    ``icma``: shots (reversed by default) + the query line, ``.strip()``-ed (with 0 shots: the query line alone,
    as ICMA's code gives for ``n_shot=0``). ``direct``: the zero-shot prompt, trailing newline kept (no shots).
    ``galactica``: every SMILES wrapped in ``[START_I_SMILES]...[END_I_SMILES]``; the direct prompts then take
    ICMA's ``ZeroShotDataset(add_special_token=True)`` chat frame (``## User: `` ... ``## Assistant: ``).
    """
    _check_task(task)
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}; choose one of {list(TEMPLATES)}")
    m2c = task == "mol2caption"
    query = _smiles(query_text, galactica) if m2c else query_text.strip()
    if template == "direct":
        if shots:
            raise ValueError(
                "the direct (zero-shot) template takes no shots; use template='icma' for in-context shots"
            )
        if galactica:
            return (
                M2C_DIRECT_GALACTICA.format(smiles=query)
                if m2c
                else C2M_DIRECT_GALACTICA.format(caption=query)
            )
        return M2C_DIRECT.format(smiles=query) if m2c else C2M_DIRECT.format(caption=query)
    shot_tpl = M2C_SHOT if m2c else C2M_SHOT
    parts = [shot_tpl.format(smiles=_smiles(s, galactica), caption=c.strip()) for s, c in shots]
    if reverse:
        parts.reverse()
    tail = M2C_QUERY.format(smiles=query) if m2c else C2M_QUERY.format(caption=query)
    return ("".join(parts) + tail).strip()


def measure_prompt(prompt: str, count_tokens: Callable[[str], int] | None) -> int:
    """Prompt length in tokens (``count_tokens``) or characters."""
    return int(count_tokens(prompt)) if count_tokens is not None else len(prompt)


def fit_budget(
    task: str,
    query_text: str,
    shots: Sequence[tuple[str, str]],
    budget: int | None,
    *,
    count_tokens: Callable[[str], int] | None = None,
    **render: Any,
) -> tuple[str, int, int | None]:
    """Render with as many shots as fit in ``budget``: whole shots are dropped least similar first; the query is
    never cut. Returns ``(prompt, n_shots_used, length)`` (length ``None`` without a budget)."""
    n = len(shots)
    prompt = render_prompt(task, query_text, shots, **render)
    if budget is None:
        return prompt, n, None
    length = measure_prompt(prompt, count_tokens)
    while length > budget and n > 0:
        n -= 1
        prompt = render_prompt(task, query_text, shots[:n], **render)
        length = measure_prompt(prompt, count_tokens)
    return prompt, n, length


def _retrieval_inputs(records: Sequence[Record], method: str) -> list[str]:
    if method in MOLECULE_METHODS or method == "graph":  # graph: SMILES embedded by the GIN
        return [r.smiles for r in records]
    if method in TEXT_METHODS:
        return [r.description for r in records]
    return [r.cid for r in records]  # random: the content does not matter, the count does


def pool_is_queries(records: Sequence[Record], pool: Sequence[Record], split: str, pool_split: str) -> bool:
    """True when the pool is the evaluated split itself (then retrieval must be leave-one-out)."""
    if split == pool_split:
        logger.info("pool split %s is the evaluated split: retrieval is leave-one-out", split)
        return True
    same_file = bool(records and pool) and records[0].source == pool[0].source
    if same_file or list(records) == list(pool):
        logger.warning(
            "pool_split=%s resolves to the evaluated %s split itself (%s): retrieval is leave-one-out, so no "
            "query sees its own row",
            pool_split,
            split,
            pool[0].source if pool else "empty",
        )
        return True
    shared = set(records).intersection(pool)
    if shared:
        logger.warning(
            "%d evaluated %s records also appear in the %s pool (same CID, SMILES and caption): they can be "
            "retrieved as their own answer",
            len(shared),
            split,
            pool_split,
        )
    return False


def build_documents(
    dataset: str,
    split: str,
    task: str,
    *,
    shots: int = 2,
    method: str | None = None,
    pool_split: str = "train",
    k: int | None = None,
    random_walk_p: float = 0.0,
    seed: int = 0,
    reverse: bool = True,
    galactica: bool = False,
    template: str = "icma",
    budget: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
    data_path: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None | bool = None,
    limit: int | None = None,
    show_progress: bool = False,
    bucket: bool = False,
    start_pos: int = 0,
    embeddings: tuple[np.ndarray, np.ndarray] | None = None,
    sbert_model: str | None = None,
    graph_weights: str | os.PathLike | None = None,
) -> list[PromptDoc]:
    """One JSON-able document per query record of ``dataset``/``split``: prompt, reference and the shots used.

    Shots come from ``pool_split`` (leave-one-out by position when it is ``split``): the top ``k`` candidates
    (default ``max(shots, 10)``) by ``method`` (default :data:`DEFAULT_METHOD`), then top-n, a random walk
    (``random_walk_p``) or ICMA's bucket selection (``bucket``, from ``start_pos``). ``budget``: maximum prompt
    length in tokens (``count_tokens``) or characters. ``graph`` embeds the SMILES with the shipped GIN weights, or
    ``graph_weights`` (ours as safetensors, or a pretrain-gnns/Mole-BERT checkpoint); ``embeddings``: precomputed
    ``(query, pool)`` matrices instead (one row per record of ``split`` / ``pool_split``). ``sbert_model``: the
    sentence-transformers model (name or local path) of the ``sbert`` method.

    No leakage: whenever the pool *is* the evaluated split (``pool_split == split``, or both resolve to the same
    file or to identical content, e.g. one ``data_path`` file), each query's own row is excluded (leave-one-out by
    position) and the log says so; each document records ``pool_split``, ``pool_source`` and ``leave_one_out``.
    """
    _check_task(task)
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}; choose one of {list(TEMPLATES)}")
    if shots < 0:
        raise ValueError(f"shots must be >= 0, got {shots}")
    if budget is not None and budget <= 0:
        raise ValueError(f"budget must be a positive length, got {budget}")
    records = load_split(dataset, split, data_path)
    n_docs = len(records) if limit is None else min(limit, len(records))
    use_shots = template == "icma" and shots > 0
    method = (method or DEFAULT_METHOD[task]) if use_shots else None
    nb = None
    pool: list[Record] = []
    if use_shots:
        if method not in TASK_METHODS[task]:
            raise ValueError(
                f"method {method!r} cannot retrieve for {task}: it would search by the reference answer; "
                f"choose one of {list(TASK_METHODS[task])}"
            )
        pool = load_split(dataset, pool_split, data_path)
        loo = pool_is_queries(records, pool, split, pool_split)
        k = k or max(shots, DEFAULT_CANDIDATES)
        precomputed = method == "graph" and embeddings is not None
        if precomputed:
            queries, pool_in = embeddings
        else:
            # Leave-one-out needs the whole split as queries (the queries *are* the pool); `limit` applies after.
            queries = _retrieval_inputs(records if loo else records[:n_docs], method)
            pool_in = queries if loo else _retrieval_inputs(pool, method)
        nb = build_neighbours(
            queries,
            pool_in,
            method,
            min(k, len(pool) - (1 if loo else 0)),
            exclude_self=loo,
            seed=seed,
            cache_dir=cache_dir,
            show_progress=show_progress,
            query_ids=None if precomputed else [r.cid for r in (records if loo else records[:n_docs])],
            pool_ids=None if precomputed else [r.cid for r in pool],
            **({"model": sbert_model} if method == "sbert" and sbert_model else {}),
            **({"weights": graph_weights} if method == "graph" and graph_weights is not None else {}),
        )
    docs: list[PromptDoc] = []
    render = {"template": template, "galactica": galactica, "reverse": reverse}
    for i in tqdm(range(n_docs), desc=f"prompts ({task})", unit="doc", disable=not show_progress):
        rec = records[i]
        query = rec.smiles if task == "mol2caption" else rec.description
        chosen: list[ShotInfo] = []
        if nb is not None:
            row, srow = nb.indices[i], nb.scores[i]
            if bucket:
                pos = select_bucket_positions(len(row), shots, start_pos=start_pos)
            else:
                pos = select_positions(len(row), shots, random_walk_p=random_walk_p, seed=seed, query_index=i)
            for p in pos:
                r = pool[int(row[p])]
                chosen.append(
                    {
                        "cid": r.cid,
                        "smiles": r.smiles,
                        "description": r.description,
                        "score": float(srow[p]),
                        "rank": p + 1,
                    }
                )
        pairs = [(s["smiles"], s["description"]) for s in chosen]
        prompt, n_used, length = fit_budget(task, query, pairs, budget, count_tokens=count_tokens, **render)
        used = chosen[:n_used]
        if reverse:
            used = used[::-1]
        docs.append(
            {
                "doc_id": i,
                "cid": rec.cid,
                "task": task,
                "dataset": dataset,
                "split": split,
                "query": query,
                "prompt": prompt,
                "target": rec.description if task == "mol2caption" else rec.smiles,
                "shots": used,
                "n_shots_requested": shots if use_shots else 0,
                "n_shots_used": n_used,
                "method": method,
                "pool_split": pool_split if use_shots else None,
                "pool_source": (pool[0].source if pool else None),
                # the files are the published splits (True), modified copies (False) or unchecked (None)
                "data_verified": rec.verified,
                "pool_verified": (pool[0].verified if pool else None),
                "leave_one_out": bool(use_shots and loo),
                "template": template,
                "galactica": galactica,
                "prompt_length": length,
                "query_exceeds_budget": bool(budget is not None and length is not None and length > budget),
            }
        )
    n_short = sum(d["n_shots_used"] < d["n_shots_requested"] for d in docs)
    if n_short:
        logger.info("%d of %d prompts hold fewer shots than requested (context budget)", n_short, len(docs))
    return docs
