"""Context budget: the longest prompt a model can take without lm-eval left-truncating it.

lm-eval's ``hf`` backend keeps only the last ``max_length - max_gen_toks`` tokens of a context (``vllm`` does the
same), silently cutting the first in-context examples, or worse the instruction. The task hook receives the model
arguments (lm-eval merges ``--model_args`` into the task metadata), so it can build every prompt to fit: this module
turns ``pretrained`` / ``tokenizer`` / ``max_length`` (or vLLM's ``max_model_len``) into a token budget and a token
counter, the same way lm-eval resolves them, and falls back to characters when there is no tokenizer to load.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: lm-eval's HFLM default when neither the model config nor the tokenizer states a context length.
DEFAULT_MAX_LENGTH = 2048
#: Model names whose "pretrained" is only a label (our baselines): no tokenizer to load.
LABEL_ONLY_MODELS = frozenset({"icma-copy", "icma-echo"})


@dataclass(frozen=True)
class Budget:
    """A prompt budget: ``limit`` in ``unit`` ("tokens" or "characters"); ``limit`` None means unlimited."""

    limit: int | None
    unit: str
    count: Callable[[str], int] | None
    source: str

    def describe(self) -> str:
        return "unlimited" if self.limit is None else f"{self.limit} {self.unit} ({self.source})"


def resolve_budget(
    budget: int | str | None = "auto",
    *,
    max_gen_toks: int = 256,
    pretrained: Any = None,
    tokenizer: Any = None,
    revision: str | None = None,
    max_length: int | None = None,
    max_model_len: int | None = None,
    backend: str | None = None,
    model: str | None = None,
) -> Budget:
    """The prompt budget for one run.

    ``budget``: "auto" (default; the model's context minus ``max_gen_toks`` when a tokenizer can be loaded, else
    unlimited), "off" (unlimited), or an integer (tokens when a tokenizer can be loaded, else characters).
    Encoder-decoder models (lm-eval's ``hf`` with ``backend=seq2seq``, or a config of a seq2seq architecture) get
    their whole encoder length: lm-eval feeds the context to the encoder, and the answer's tokens do not come off it.
    ``model``: lm-eval's model name (``hf``, ``vllm``, ...), when known.
    """
    mode = _parse_budget(budget)
    name = (
        tokenizer
        if isinstance(tokenizer, str | Path)
        else pretrained
        if isinstance(pretrained, str | Path)
        else None
    )
    if mode == "off":
        return Budget(None, "tokens", None, "budget=off")
    tok = (
        load_tokenizer(str(name), revision)
        if name is not None and str(name) not in LABEL_ONLY_MODELS
        else None
    )
    if tok is None:
        if isinstance(mode, int):
            return Budget(mode, "characters", None, "budget (no tokenizer: counted in characters)")
        if name is not None and str(name) not in LABEL_ONLY_MODELS:
            logger.warning(
                "no tokenizer could be loaded for %r: prompts are not budgeted, and a backend with a context limit may "
                "left-truncate them. Pass --metadata budget=<characters> (or a loadable tokenizer=) to bound them.",
                name,
            )
        return Budget(None, "characters", None, "no tokenizer")
    count = functools.partial(_count_tokens, tok)
    if isinstance(mode, int):
        return Budget(mode, "tokens", count, f"budget with the {name} tokenizer")
    context = _first_int(max_model_len, max_length)
    source = "max_length" if context is not None else "model config"
    config = load_config(str(name), revision)
    if context is None:
        context = resolve_context_length(config, tok)
    if is_seq2seq(config, backend, model):
        return Budget(context, "tokens", count, f"{source} {context} (encoder; seq2seq), {name} tokenizer")
    limit = context - int(max_gen_toks)
    if limit <= 0:
        raise ValueError(
            f"the context length {context} leaves no room for a prompt after max_gen_toks={max_gen_toks}; "
            "pass a larger max_length in --model_args or a smaller --gen_kwargs max_gen_toks=..."
        )
    return Budget(
        limit, "tokens", count, f"{source} {context} - max_gen_toks {max_gen_toks}, {name} tokenizer"
    )


def _parse_budget(budget: int | str | None) -> int | str:
    if budget is None or (isinstance(budget, str) and budget.strip().lower() in ("", "auto")):
        return "auto"
    if isinstance(budget, str) and budget.strip().lower() in ("off", "none", "unlimited"):
        return "off"
    if isinstance(budget, int) and not isinstance(budget, bool):
        value = budget
    elif isinstance(budget, str) and budget.strip().isdigit():
        value = int(budget)
    else:
        raise ValueError(f"budget must be 'auto', 'off' or a positive integer, got {budget!r}")
    if value <= 0:
        raise ValueError(f"budget must be 'auto', 'off' or a positive integer, got {budget!r}")
    return value


def _first_int(*values: Any) -> int | None:
    for value in values:
        if value is not None:
            return int(value)
    return None


@functools.lru_cache(maxsize=8)
def load_tokenizer(name: str, revision: str | None = None) -> Any | None:
    """The model's tokenizer as lm-eval loads it (``AutoTokenizer``), or None when it cannot be loaded.

    NOTE: never with ``trust_remote_code`` (house rule); a tokenizer that needs it falls back to characters.
    """
    try:
        from transformers import AutoTokenizer

        kwargs = {"revision": revision} if revision else {}
        return AutoTokenizer.from_pretrained(name, trust_remote_code=False, **kwargs)
    except Exception as exc:  # noqa: BLE001 - OSError, ValueError, hub errors: all mean "no tokenizer here"
        logger.info("tokenizer %r not loadable (%s)", name, exc)
        return None


@functools.lru_cache(maxsize=8)
def load_config(name: str, revision: str | None = None) -> Any | None:
    """The model's config (``AutoConfig``, never ``trust_remote_code``), or None when it cannot be loaded."""
    try:
        from transformers import AutoConfig

        kwargs = {"revision": revision} if revision else {}
        return AutoConfig.from_pretrained(name, trust_remote_code=False, **kwargs)
    except Exception as exc:  # noqa: BLE001
        logger.info("model config %r not loadable (%s); using the tokenizer's limit", name, exc)
        return None


def resolve_context_length(config: Any | None, tokenizer: Any) -> int:
    """The context length lm-eval's ``hf`` backend would use: model config, then tokenizer, then 2048."""
    from lm_eval.models.utils import resolve_max_length

    return int(resolve_max_length(config, tokenizer, default=DEFAULT_MAX_LENGTH))


def is_seq2seq(config: Any | None, backend: str | None = None, model: str | None = None) -> bool:
    """Whether lm-eval's ``hf`` backend treats the model as encoder-decoder (its ``_get_backend`` rule: an explicit
    ``backend=`` wins, else the config's ``model_type`` in transformers' seq2seq mapping). vLLM serves decoders."""
    if model is not None and model not in ("hf", "huggingface", "hf-auto"):
        return False
    if backend in ("causal", "seq2seq"):
        return backend == "seq2seq"
    if config is None:
        return False
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES

    return getattr(config, "model_type", None) in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES


def _count_tokens(tokenizer: Any, text: str) -> int:
    # Special tokens included, as lm-eval's tok_batch_encode adds them by default (e.g. a BOS token);
    # verbose=False: no "longer than the maximum length" warning for the prompts we are about to shorten.
    return len(tokenizer(text, verbose=False)["input_ids"])
