"""``icma-bench retrieve`` (ICMA-format neighbour files) and ``icma-bench prompts`` (prompts + references)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from icma_bench.data import DATASETS, SPLITS, load_split
from icma_bench.files import write_atomic
from icma_bench.prompts import DEFAULT_METHOD, TASKS, TEMPLATES, build_documents, pool_is_queries
from icma_bench.retrieval import METHODS, build_neighbours
from icma_bench.retrieval.neighbours import MOLECULE_METHODS, TEXT_METHODS

# Our method -> (ICMA task tag, ICMA method tag) in file names like test_10_shot_cap2mol_bm25.txt.
# NOTE: ICMA's "morgan" files hold the RDKit topological fingerprint (our rdkit_fp); our true Morgan fingerprint is
# written as "morgan_r2" so that ICMA's loaders (m2c_method="morgan") never pick it up by mistake.
ICMA_FILE_TAGS = {
    "bm25": ("cap2mol", "bm25"),
    "sbert": ("cap2mol", "sentencebert"),
    "rdkit_fp": ("mol2cap", "morgan"),
    "morgan": ("mol2cap", "morgan_r2"),
    "graph": ("mol2cap", "gnn"),
    "random": (None, "random"),
}
_TASK_TAG = {"mol2caption": "mol2cap", "caption2mol": "cap2mol"}


def icma_file_name(split: str, k: int, method: str, task: str | None = None) -> str:
    """ICMA's neighbour file name, e.g. ``test_10_shot_cap2mol_bm25.txt``."""
    task_tag, method_tag = ICMA_FILE_TAGS[method]
    task_tag = _TASK_TAG[task] if task else task_tag or "mol2cap"
    return f"{split}_{k}_shot_{task_tag}_{method_tag}.txt"


def _int_at_least(minimum: int):
    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {n}")
        return n

    return parse


def _probability(value: str) -> float:
    try:
        p = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return p


class OutputWriteError(ValueError):
    """An output file that cannot be written (read-only folder, full disk): reported in one line."""


def _write_output(path: Path, text: str) -> None:
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise OutputWriteError(f"cannot write {path}: {exc.strerror or exc}") from None


def _load_embeddings(path: str):
    import numpy as np

    arr = np.load(path, allow_pickle=False)
    if arr.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D float array [n, dim], got shape {arr.shape}")
    return arr


def run_retrieve(args: argparse.Namespace) -> int:
    if args.graph_weights and args.embeddings:
        raise ValueError("--graph-weights embeds SMILES; it cannot be combined with --embeddings")
    queries_rec = load_split(args.dataset, args.split, args.data)
    pool_rec = load_split(args.dataset, args.pool_split, args.data)
    loo = pool_is_queries(queries_rec, pool_rec, args.split, args.pool_split)  # same split, file or content
    if args.method == "graph" and args.embeddings:
        queries, pool = (_load_embeddings(p) for p in args.embeddings)
    elif args.method in MOLECULE_METHODS or args.method == "graph":  # graph: SMILES embedded by the GIN
        queries, pool = [r.smiles for r in queries_rec], [r.smiles for r in pool_rec]
    elif args.method in TEXT_METHODS:
        queries, pool = [r.description for r in queries_rec], [r.description for r in pool_rec]
    else:
        queries, pool = [r.cid for r in queries_rec], [r.cid for r in pool_rec]
    options = {"model": args.sbert_model} if args.method == "sbert" and args.sbert_model else {}
    if args.method == "graph" and args.graph_weights:
        options = {"weights": args.graph_weights}
    nb = build_neighbours(
        queries,
        pool,
        args.method,
        args.k,
        exclude_self=loo,
        seed=args.seed,
        cache_dir=False if args.no_cache else None,
        show_progress=True,
        query_ids=[r.cid for r in queries_rec],
        pool_ids=[r.cid for r in pool_rec],
        **options,
    )
    out = Path(args.out) / icma_file_name(args.split, args.k, args.method, args.task)
    _write_output(out, nb.to_icma([r.cid for r in queries_rec], [r.cid for r in pool_rec]))
    print(out)
    return 0


def _escape_tsv(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _token_counter(name: str | None):
    if not name:
        return None
    looks_like_path = name.startswith((".", "~", "/")) or os.sep in name and name.count("/") != 1
    if looks_like_path and not Path(name).expanduser().exists():
        raise FileNotFoundError(f"--tokenizer {name}: no such file or folder")
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(name, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"--tokenizer {name}: cannot load it ({first})") from None
    return lambda text: len(tok(text)["input_ids"])


def run_prompts(args: argparse.Namespace) -> int:
    docs = build_documents(
        args.dataset,
        args.split,
        args.task,
        shots=args.shots,
        method=args.method,
        pool_split=args.pool_split,
        k=args.k,
        random_walk_p=args.random_walk_p,
        seed=args.seed,
        reverse=not args.no_reverse,
        galactica=args.galactica,
        template=args.template,
        budget=args.budget,
        count_tokens=_token_counter(args.tokenizer),
        data_path=args.data,
        cache_dir=False if args.no_cache else None,
        limit=args.limit,
        show_progress=True,
        bucket=args.bucket,
        graph_weights=args.graph_weights,
    )
    if args.format == "jsonl":
        text = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    else:
        header = "doc_id\tcid\tn_shots_used\tprompt\ttarget\n"
        text = header + "".join(
            f"{d['doc_id']}\t{d['cid']}\t{d['n_shots_used']}\t{_escape_tsv(d['prompt'])}\t{_escape_tsv(d['target'])}\n"
            for d in docs
        )
    if args.out:
        _write_output(Path(args.out), text)
    else:
        sys.stdout.write(text)
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    p.add_argument("--split", required=True, choices=SPLITS, help="the query split")
    p.add_argument(
        "--pool-split", default="train", choices=SPLITS, help="the split searched (default: train)"
    )
    p.add_argument(
        "--data", default=None, help="a data folder or split file (else $ICMA_BENCH_DATA / user cache)"
    )
    p.add_argument(
        "--seed", type=_int_at_least(0), default=0, help="seed of random retrieval and the random walk"
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the neighbour cache")


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser(
        "retrieve",
        help="top-k neighbours of every query, written in ICMA's file format",
        description="Write query_cid<TAB>pool_cid<TAB>score lines (k per query, rank order) to "
        "DIR/<split>_<k>_shot_<task>_<method>.txt, named as ICMA's released files. A query split equal to the "
        "pool split is searched leave-one-out.",
    )
    _common(r)
    r.add_argument("--method", required=True, choices=METHODS)
    r.add_argument("-k", type=_int_at_least(1), default=10, help="neighbours per query (default 10)")
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument(
        "--task", choices=TASKS, default=None, help="task tag of the file name (for --method random)"
    )
    r.add_argument(
        "--embeddings",
        nargs=2,
        metavar=("QUERY_NPY", "POOL_NPY"),
        help="precomputed embeddings for --method graph (default: embed the SMILES with the GIN)",
    )
    r.add_argument(
        "--graph-weights",
        default=None,
        help="GIN weights for --method graph: ours (.safetensors) or a pretrain-gnns/Mole-BERT .pth "
        "(default: the shipped weights)",
    )
    r.add_argument(
        "--sbert-model", default=None, help="sentence-transformers model name or path (--method sbert)"
    )
    r.set_defaults(func=run_retrieve)

    p = sub.add_parser(
        "prompts",
        help="ICMA prompts and references for a split (JSONL or TSV), for inference elsewhere",
        description="One record per query: the prompt, the reference and the shots used. TSV escapes backslash, "
        "tab and newline as \\\\, \\t and \\n.",
    )
    _common(p)
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument(
        "--shots", type=_int_at_least(0), default=2, help="in-context examples per prompt (default 2)"
    )
    p.add_argument(
        "--method",
        default=None,
        choices=METHODS,
        help=f"retrieval method (default: {DEFAULT_METHOD['mol2caption']} for mol2caption, "
        f"{DEFAULT_METHOD['caption2mol']} for caption2mol)",
    )
    p.add_argument(
        "-k", type=_int_at_least(1), default=None, help="candidates per query (default max(shots, 10))"
    )
    p.add_argument("--template", default="icma", choices=TEMPLATES)
    p.add_argument(
        "--galactica", action="store_true", help="wrap SMILES in [START_I_SMILES]...[END_I_SMILES]"
    )
    p.add_argument("--no-reverse", action="store_true", help="most similar shot first (ICMA default: last)")
    p.add_argument(
        "--random-walk-p",
        type=_probability,
        default=0.0,
        help="skip probability of the random walk (0 = top-n)",
    )
    p.add_argument("--bucket", action="store_true", help="ICMA's bucket selection over the k candidates")
    p.add_argument(
        "--budget",
        type=_int_at_least(1),
        default=None,
        help="max prompt length: tokens with --tokenizer, else chars",
    )
    p.add_argument(
        "--tokenizer", default=None, help="Hugging Face tokenizer name/path that counts --budget tokens"
    )
    p.add_argument("--graph-weights", default=None, help="GIN weights for --method graph (default: shipped)")
    p.add_argument("--limit", type=_int_at_least(1), default=None, help="only the first N queries")
    p.add_argument("--format", default="jsonl", choices=("jsonl", "tsv"))
    p.add_argument("--out", default=None, help="output file (default: stdout)")
    p.set_defaults(func=run_prompts)
