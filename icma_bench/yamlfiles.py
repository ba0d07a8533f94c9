"""User YAML read safely: PyYAML's safe loader, without aliases, within a size bound.

A YAML alias (``*name``) re-uses a node; nested aliases expand exponentially ("billion laughs": a 642-byte board
manifest took ``leaderboard build`` to 3.7 GB). Nothing a user writes for icma-bench (recipes, manifests, ``row.yaml``,
compare specs) needs an alias, so an alias is refused at parse time, before anything is built. The text itself is
bounded too (``MAX_YAML_BYTES``), so a huge file is refused before it is parsed.

Every user-facing YAML read goes through :func:`load_yaml_file` or :func:`load_yaml_text`; the error is a
:class:`YamlError` (a ``ValueError``) whose message names the file, line and the problem, for the caller to re-raise
as its own one-line error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAX_YAML_BYTES = 4 * 1024 * 1024  # a recipe or manifest is a few KB; 4 MiB leaves room for long run lists


class YamlError(ValueError):
    """A YAML input that cannot be read, does not parse, holds an alias or is over the size bound."""


def _loader(tag_tolerant: bool):
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        """SafeLoader that refuses aliases (``*name``) where they occur, before any node is composed twice."""

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                mark = event.start_mark
                raise YamlError(
                    f"line {mark.line + 1}: YAML aliases (*{event.anchor}) are not accepted; write the value out"
                )
            return super().compose_node(parent, index)

    if tag_tolerant:  # lm-eval task YAMLs carry `!function` tags: read them as null
        NoAliasLoader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return NoAliasLoader


def load_yaml_text(text: str, where: str = "<text>", *, tag_tolerant: bool = False) -> Any:
    """Parse ``text`` (user YAML) with the safe loader, no aliases, at most :data:`MAX_YAML_BYTES`."""
    import yaml

    if len(text) > MAX_YAML_BYTES:
        raise YamlError(
            f"{where}: {len(text):,} characters, over the {MAX_YAML_BYTES:,}-byte bound for a YAML input"
        )
    try:
        return yaml.load(text, Loader=_loader(tag_tolerant))  # noqa: S506 - a SafeLoader subclass
    except YamlError as exc:
        raise YamlError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        raise YamlError(f"{where}: not valid YAML ({' '.join(str(exc).split())})") from None
    except RecursionError:
        raise YamlError(f"{where}: YAML nested too deeply") from None


def load_yaml_file(path: str | Path, *, tag_tolerant: bool = False) -> Any:
    """Read and parse a user YAML file (see :func:`load_yaml_text`); a missing or oversized file is a YamlError."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise YamlError(
                f"{path}: {size:,} bytes, over the {MAX_YAML_BYTES:,}-byte bound for a YAML input"
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    return load_yaml_text(text, str(path), tag_tolerant=tag_tolerant)
