"""Reading the YAML files people write (the school directory, the channels file): safely, within bounds.

``yaml.safe_load`` builds no objects, but a few lines of nested aliases (a "billion laughs") still
make a structure whose walk costs minutes and gigabytes, and a deeply nested one ends the parser in
a RecursionError. Here the parser refuses nesting past ``MAX_DEPTH`` while it reads, and the result
is walked once, without recursion, and refused past ``MAX_NODES`` values or ``MAX_DEPTH`` levels
(aliases counted as often as they are used): a clear ``YamlTooLarge`` in a second, never a hang.
"""

from __future__ import annotations

from typing import Any

import yaml

#: a school directory of 10,000 staff is some 150,000 values; nothing a person writes nests 32 deep
MAX_NODES = 1_000_000
MAX_DEPTH = 32


class YamlTooLarge(yaml.YAMLError):
    """The file nests too deep or expands to too much (aliases counted as used)."""


class _Bounded(yaml.SafeLoader):
    """The safe loader, refusing nesting past ``MAX_DEPTH`` as it composes."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlTooLarge(f"nested more than {MAX_DEPTH} levels deep (line {mark.line + 1})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str) -> Any:
    """The file's data: YAMLError saying what is wrong (YamlTooLarge past the bounds)."""
    data = yaml.load(text, Loader=_Bounded)  # noqa: S506 - _Bounded is a SafeLoader
    seen, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise YamlTooLarge(f"more than {MAX_NODES} values once its aliases are expanded")
        if depth > MAX_DEPTH:
            raise YamlTooLarge(f"nested more than {MAX_DEPTH} levels deep once its aliases are expanded")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
            stack.extend((k, depth + 1) for k in value if isinstance(k, tuple))
        elif isinstance(value, list | tuple):
            stack.extend((v, depth + 1) for v in value)
    return data
