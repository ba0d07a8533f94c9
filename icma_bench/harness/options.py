"""Task options: every ``--metadata`` key of the icma tasks, validated before any document is built.

lm-eval hands the task hook one dict: the YAML ``metadata`` defaults, the user's ``--metadata`` and the model
arguments (``--model_args``) merged together, plus a few keys of its own. An option this module does not know is
an error naming it, the closest valid key and the full list, unless it is a model argument of this run: the
:func:`icma_bench.harness.discovery.install` hook records the run's model-argument keys and its generation length
(``--gen_kwargs max_gen_toks``) from ``simple_evaluate`` (:data:`RUN`). Every value is checked for type and range;
messages name the fix in lm-eval's terms (``--metadata key=value``).
"""

from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Keys lm-eval itself puts into a task's metadata.
LM_EVAL_KEYS = frozenset({"version", "config_source", "_metadata"})
#: Keys each task YAML sets through ``dataset_kwargs`` (never user options).
TASK_KEYS = frozenset({"dataset", "direction", "variant"})
#: Model arguments the hook reads for the context budget (lm-eval passes them in with the metadata).
MODEL_KEYS_READ = frozenset({"pretrained", "tokenizer", "revision", "max_length", "max_model_len", "backend"})
DEFAULT_MAX_GEN_TOKS = 256  # the task YAMLs' generation_kwargs.max_gen_toks


class TaskOptionError(ValueError):
    """A ``--metadata`` option of an icma task is unknown or out of range; the message names the fix."""


@dataclass(frozen=True)
class RunContext:
    """What the hook cannot see in the metadata: which keys are model arguments, and the generation length."""

    model: str | None = None
    model_arg_keys: frozenset[str] = frozenset()
    max_gen_toks: int = DEFAULT_MAX_GEN_TOKS
    max_gen_toks_source: str = "task default"


#: Set by the ``simple_evaluate`` wrapper for the duration of one evaluation (None outside of one).
RUN: ContextVar[RunContext | None] = ContextVar("icma_bench_run", default=None)


# ------------------------------------------------------------------------------------------------ value parsers


def _fail(key: str, value: Any, expected: str, example: str) -> TaskOptionError:
    return TaskOptionError(
        f"--metadata {key}={value!r}: {key} must be {expected} (e.g. --metadata {key}={example})"
    )


def _int(key: str, minimum: int, example: str) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise _fail(key, value, f"a whole number >= {minimum}", example)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or value < minimum:
            raise _fail(key, value, f"a whole number >= {minimum}", example)
        return value

    return parse


def _probability(key: str) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise _fail(key, value, "a number in [0, 1)", "0.3") from None
        if isinstance(value, bool) or not isinstance(value, int | float) or not (0 <= value < 1):
            raise _fail(key, value, "a number in [0, 1)", "0.3")
        if math.isnan(value):
            raise _fail(key, value, "a number in [0, 1)", "0.3")
        return float(value)

    return parse


def _bool(key: str) -> Callable[[Any], bool]:
    def parse(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise _fail(key, value, "true or false", "false")

    return parse


def _choice(key: str, choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise _fail(key, value, f"one of {list(choices)}", choices[0])
        return value

    return parse


def _text(key: str, example: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise _fail(key, value, "a non-empty name or path", example)
        return value

    return parse


def _existing_path(key: str) -> Callable[[Any], str]:
    what = "data folder or split file" if key == "data_path" else "file"

    def parse(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise _fail(
                key, value, f"a path to a {what}", "/data/icma" if key == "data_path" else "/models/gin.pth"
            )
        if not Path(value).expanduser().exists():
            fallback = (
                " (it is never replaced by $ICMA_BENCH_DATA or the user cache)" if key == "data_path" else ""
            )
            raise TaskOptionError(
                f"--metadata {key}={value}: that path does not exist{fallback}; pass an existing {what}"
            )
        return value

    return parse


def _protocol(value: Any) -> str:
    from icma_bench.metrics import parse_protocols

    try:
        return "+".join(parse_protocols(value if isinstance(value, str) else str(value)))
    except ValueError as exc:
        raise TaskOptionError(
            f"--metadata protocol={value!r}: {exc} (e.g. --metadata protocol=molt5+icma)"
        ) from None


def _budget(value: Any) -> int | str:
    if isinstance(value, str) and value.strip().lower() in ("auto", "off"):
        return value.strip().lower()
    try:
        return _int("budget", 1, "2048")(value)
    except TaskOptionError:
        raise _fail("budget", value, "auto, off or a whole number of tokens >= 1", "2048") from None


def _max_gen_toks(value: Any) -> int:
    raise TaskOptionError(
        f"--metadata max_gen_toks={value!r}: the generation length is stated once, with "
        f"--gen_kwargs max_gen_toks={value}; the context budget follows it"
    )


# ------------------------------------------------------------------------------------------------- the options


def _method_choices(direction: str) -> tuple[str, ...]:
    from icma_bench.prompts import TASK_METHODS

    return tuple(TASK_METHODS[direction])


def _splits() -> tuple[str, ...]:
    from icma_bench.data import SPLITS

    return SPLITS


@dataclass(frozen=True)
class Option:
    parse: Callable[[Any], Any]
    help: str
    default: Any = None


def build_option_table() -> dict[str, Option]:
    """Every ``--metadata`` key of the icma tasks: parser, meaning, default (the README's table)."""
    return {
        "shots": Option(_int("shots", 0, "4"), "in-context examples per prompt", 2),
        "m2c_method": Option(
            _choice("m2c_method", _method_choices("mol2caption")),
            "retriever for molecule queries",
            "rdkit_fp",
        ),
        "c2m_method": Option(
            _choice("c2m_method", _method_choices("caption2mol")), "retriever for caption queries", "bm25"
        ),
        "random_walk_p": Option(_probability("random_walk_p"), "skip probability of the random walk", 0.0),
        "random_walk_seed": Option(_int("random_walk_seed", 0, "1"), "seed of the random walk", 0),
        "candidates": Option(_int("candidates", 1, "10"), "ranked candidates shots are drawn from", None),
        "reverse": Option(_bool("reverse"), "sequence reversal (most similar shot last)", True),
        "galactica": Option(_bool("galactica"), "Galactica's SMILES tags", False),
        "pool_split": Option(_choice("pool_split", _splits()), "split the shots come from", "train"),
        "eval_split": Option(_choice("eval_split", _splits()), "split evaluated", "test"),
        "data_path": Option(_existing_path("data_path"), "data folder or split file", None),
        "limit": Option(_int("limit", 1, "100"), "build only the first N documents", None),
        "protocol": Option(_protocol, "metric protocols", "molt5+icma+strict"),
        "budget": Option(_budget, "prompt budget: auto, off or tokens", "auto"),
        "graph_weights": Option(
            _existing_path("graph_weights"),
            "GIN weights of the graph retriever: ours (safetensors) or a Mole-BERT / pretrain-gnns checkpoint",
            None,
        ),
        "sbert_model": Option(
            _text("sbert_model", "/models/paraphrase-distilroberta-base-v1"), "sbert model", None
        ),
        "max_gen_toks": Option(_max_gen_toks, "(use --gen_kwargs max_gen_toks=N)", None),
    }


OPTIONS = build_option_table()


@dataclass(frozen=True)
class TaskOptions:
    """The validated options of one task, plus the model arguments the budget reads."""

    values: dict[str, Any]
    model_args: dict[str, Any] = field(default_factory=dict)
    run: RunContext | None = None

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


def _unknown_key_error(key: str, value: Any) -> TaskOptionError:
    valid = sorted(k for k in OPTIONS if k != "max_gen_toks")
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return TaskOptionError(
        f"--metadata {key}={value!r}: unknown key {key!r} for the icma tasks.{hint} Valid keys: {', '.join(valid)}."
        " (Model arguments belong in --model_args.)"
    )


def validate_options(metadata: Mapping[str, Any], run: RunContext | None = None) -> TaskOptions:
    """Check every key and value lm-eval passed to the hook; returns the options with defaults filled in.

    ``run`` (default: :data:`RUN`): the keys known to be model arguments of this run. Without it (the hook called
    outside ``simple_evaluate``) an unknown key close to a valid one is still an error (a typo), others are taken
    for model arguments with a warning.
    """
    run = RUN.get() if run is None else run
    values = {key: option.default for key, option in OPTIONS.items() if key != "max_gen_toks"}
    model_args: dict[str, Any] = {}
    guessed: list[str] = []
    model_keys = run.model_arg_keys if run is not None else frozenset()
    for key, value in metadata.items():
        if key in LM_EVAL_KEYS or key in TASK_KEYS:
            continue
        if key in model_keys or key in MODEL_KEYS_READ:
            model_args[key] = value  # a model argument (it wins over an option of the same name)
        elif key in OPTIONS:
            values[key] = OPTIONS[key].parse(value)
        elif run is None and not difflib.get_close_matches(key, list(OPTIONS), n=1, cutoff=0.75):
            guessed.append(key)
            model_args[key] = value
        else:
            raise _unknown_key_error(key, value)
    if guessed:
        logger.warning(
            "icma tasks: keys %s are not task options; taken for model arguments (outside simple_evaluate the "
            "model arguments are not known)",
            guessed,
        )
    if values["candidates"] is not None and values["candidates"] < values["shots"]:
        raise TaskOptionError(
            f"--metadata candidates={values['candidates']}: candidates must be >= shots ({values['shots']}); "
            f"e.g. --metadata shots={values['shots']},candidates={max(10, values['shots'])}"
        )
    return TaskOptions(values=values, model_args=model_args, run=run)


def parse_model_args(model_args: Any) -> dict[str, Any]:
    """lm-eval's ``model_args`` (a ``key=value,...`` string, a JSON string or a dict) as a dict."""
    if isinstance(model_args, dict):
        return dict(model_args)
    if not model_args:
        return {}
    if isinstance(model_args, str):
        from lm_eval.utils import simple_parse_args_string

        return dict(simple_parse_args_string(model_args))
    return {}


def parse_gen_max_tokens(gen_kwargs: Any) -> int | None:
    """``max_gen_toks`` (or ``max_new_tokens``) of lm-eval's ``--gen_kwargs``, if the user set it."""
    kwargs = parse_model_args(gen_kwargs)
    for key in ("max_gen_toks", "max_new_tokens"):
        if key in kwargs:
            value = kwargs[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TaskOptionError(f"--gen_kwargs {key}={value!r}: must be a whole number >= 1")
            return value
    return None
