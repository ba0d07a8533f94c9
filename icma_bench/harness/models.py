"""Reference baselines registered for lm-eval; they need no weights and see only the prompt, like any model.

- ``icma-copy``: answers with the target of the most similar in-context example (the retrieval baseline: what a
  model scores by copying its nearest neighbour). With ICMA's sequence reversal the most similar example is the
  last one before the query; pass ``reverse=false`` when the tasks run with ``reverse=false``. No examples in the
  prompt (zero-shot tasks, or all shots dropped by the context budget) -> an empty answer.
- ``icma-echo``: answers with the query input itself (a SMILES as the caption, a caption as the molecule): the floor
  every model must beat, and an all-invalid input for the molecule metrics.

Both accept ``pretrained=`` (ignored) so lm-eval names result folders after it. They only generate; log-likelihood
requests raise.
"""

from __future__ import annotations

import logging
import re

from lm_eval.api.instance import Instance
from lm_eval.api.model import LM

logger = logging.getLogger(__name__)

# The answer line of an in-context example ("Caption: ..." / "Molecule: ..."), as the ICMA shot templates write it.
_ANSWER_LINE = re.compile(r"^(?:Caption|Molecule): ?(.*)$", re.MULTILINE)


def parse_shot_answers(prompt: str) -> list[str]:
    """The answers of the in-context examples of an ICMA prompt, in prompt order."""
    return _ANSWER_LINE.findall(prompt)


def parse_query(prompt: str) -> str:
    """The query input of an ICMA or direct prompt: its last line minus the template around the query; "" if the
    last line is no query line of :mod:`icma_bench.prompts`."""
    from icma_bench.prompts import C2M_DIRECT, C2M_QUERY, M2C_DIRECT, M2C_QUERY

    lines = [line for line in prompt.strip().splitlines() if line.strip()]
    if lines and lines[-1].strip() == "## Assistant:":  # Galactica's zero-shot chat frame
        lines.pop()
    if not lines:
        return ""
    last = lines[-1].strip().removeprefix("## User: ")
    for template, field in (
        (M2C_QUERY, "{smiles}"),
        (C2M_QUERY, "{caption}"),
        (M2C_DIRECT, "{smiles}"),
        (C2M_DIRECT, "{caption}"),
    ):
        head, tail = template.split(field)
        tail = tail.strip()  # prompts are stripped: ICMA's ". \n" after the SMILES ends the line as "."
        if last.startswith(head) and last.endswith(tail):
            return last[len(head) : len(last) - len(tail)].strip()
    return ""


class _Baseline(LM):
    """Generation-only model that answers from the prompt text alone."""

    def __init__(self, pretrained: str | None = None, **kwargs) -> None:
        super().__init__()
        self.pretrained = pretrained
        # batch_size, device, max_batch_size, ... come from lm-eval's CLI; they mean nothing here.
        self._ignored = sorted(k for k, v in kwargs.items() if v is not None)
        if self._ignored:
            logger.debug("%s ignores model args %s", type(self).__name__, self._ignored)

    def answer(self, prompt: str) -> str:
        raise NotImplementedError

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        return [self.answer(request.args[0]) for request in requests]

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError(f"{type(self).__name__} only generates; use it with generate_until tasks")

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError(f"{type(self).__name__} only generates; use it with generate_until tasks")


class CopyModel(_Baseline):
    """``icma-copy``: the target of the most similar in-context example."""

    def __init__(self, pretrained: str | None = "icma-copy", reverse: bool = True, **kwargs) -> None:
        super().__init__(pretrained=pretrained, **kwargs)
        if not isinstance(reverse, bool):
            raise ValueError(f"icma-copy: reverse must be true or false, got {reverse!r}")
        self.reverse = reverse

    def answer(self, prompt: str) -> str:
        answers = parse_shot_answers(prompt)
        if not answers:
            return ""
        return answers[-1] if self.reverse else answers[0]


class EchoModel(_Baseline):
    """``icma-echo``: the query input, unchanged."""

    def __init__(self, pretrained: str | None = "icma-echo", **kwargs) -> None:
        super().__init__(pretrained=pretrained, **kwargs)

    def answer(self, prompt: str) -> str:
        return parse_query(prompt)
