"""JSON, TOML and YAML parsed with bounds: nesting depth, expanded size, and integer width.

The standard parsers recurse once per nesting level (a file of 100 000 `[` is a RecursionError),
convert a 4 400-digit integer only to hit Python's digit limit (a ValueError), and PyYAML expands
aliases into a billion-item "bomb". Here each is refused before or while parsing, with one
RundiffError naming the file and line; whatever these return is plain, finite, trusted data.

Integers are held to 64 bits, as TOML's own specification requires (and every trainer setting fits).
"""

from __future__ import annotations

import json
import re
import tomllib
from itertools import accumulate
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from rundiff.errors import RundiffError

#: Deeper than any settings file (kohya GUI JSON: 1, ai-toolkit YAML: about 6).
MAX_NESTING = 64
#: YAML nodes after aliases are expanded; a real config has a few hundred.
MAX_YAML_NODES = 200_000
#: Integers are 64-bit (TOML requires it; every training setting fits).
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
#: Digits an integer literal may have before it is refused unconverted (2**63 has 19).
MAX_INT_DIGITS = 40
#: Settings files are a few KiB. PyYAML's pure-Python parser (needed for the bounds above) reads
#: roughly 100-300 KiB/s and tomllib about 1-2 MiB/s, so these keep any one file to about a second.
MAX_YAML_CHARS = 128 * 1024
MAX_TOML_CHARS = 1024 * 1024

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_TOML_SKIP = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_LONG_INT = re.compile(r"(?<![\w.])[+-]?\d[\d_]{" + str(MAX_INT_DIGITS) + r",}(?![\w.])")


def _check_nesting(stripped: str, path: Path | str, kind: str) -> None:
    """Refuse nesting past MAX_NESTING; ``stripped`` is the text with its strings and comments blanked
    (line breaks kept, so the line reported is the file's)."""
    brackets = _NOT_BRACKET.sub("", stripped)
    if max(accumulate(1 if c in "[{" else -1 for c in brackets), default=0) <= MAX_NESTING:
        return
    depth = 0
    for number, line in enumerate(stripped.splitlines(), start=1):
        for char in _NOT_BRACKET.sub("", line):
            depth += 1 if char in "[{" else -1
            if depth > MAX_NESTING:
                raise RundiffError(f"invalid {kind}: nested more than {MAX_NESTING} levels deep", path, line=number)
    raise RundiffError(f"invalid {kind}: nested more than {MAX_NESTING} levels deep", path)


def _check_size(text: str, limit: int, path: Path | str, kind: str) -> None:
    if len(text) > limit:
        raise RundiffError(
            f"{kind} file of {len(text)} characters, over the {limit // 1024} KiB a settings file may have", path
        )


def _bounded_int(literal: str, path: Path | str, line: int | None = None) -> int:
    digits = literal.lstrip("+-").replace("_", "")
    if len(digits) > MAX_INT_DIGITS:
        raise RundiffError(f"integer with {len(digits)} digits: too large for a setting", path, line=line)
    value = int(literal, 0) if literal.lstrip("+-")[:2].lower() in ("0x", "0o", "0b") else int(literal.replace("_", ""))
    if not INT_MIN <= value <= INT_MAX:
        raise RundiffError(
            f"integer {literal[:24]}{'…' if len(literal) > 24 else ''} is outside the 64-bit range", path, line=line
        )
    return value


def _json_int(literal: str) -> int | str:
    """A JSON integer within 64 bits; a wider one stays the text written, never converted, so the value
    reader makes it an unknown value with its reason while the rest of the file still counts."""
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        return literal
    value = int(literal)
    return value if INT_MIN <= value <= INT_MAX else literal


def load_json(text: str, path: Path | str) -> Any:
    """``json.loads`` with nesting bounded, integers past 64 bits kept as their text, NaN/Infinity refused."""
    _check_nesting(_JSON_STRING.sub('""', text), path, "JSON")

    def constant(name: str) -> float:
        raise RundiffError(f"invalid JSON: {name} is not a JSON number", path)

    try:
        return json.loads(text, parse_int=_json_int, parse_constant=constant)
    except json.JSONDecodeError as err:
        raise RundiffError(f"invalid JSON: {err.msg}", path, line=err.lineno) from None
    except RecursionError:  # the pre-scan bounds nesting; this is the last line of defence
        raise RundiffError(f"invalid JSON: nested more than {MAX_NESTING} levels deep", path) from None


def load_toml(text: str, path: Path | str) -> dict[str, Any]:
    """``tomllib.loads`` with size and nesting bounded and integers held to TOML's 64 bits."""
    _check_size(text, MAX_TOML_CHARS, path, "TOML")
    stripped = _TOML_SKIP.sub(lambda m: "\n" * m.group().count("\n"), text)
    _check_nesting(stripped, path, "TOML")
    long_int = _LONG_INT.search(stripped)
    if long_int:
        line = stripped.count("\n", 0, long_int.start()) + 1
        _bounded_int(long_int.group(), path, line)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        match = re.search(r"line (\d+)", str(err))
        raise RundiffError(f"invalid TOML: {err}", path, line=int(match.group(1)) if match else None) from None
    except (ValueError, RecursionError) as err:  # tomllib's own int conversion; nesting missed above
        raise RundiffError(f"invalid TOML: {str(err).splitlines()[0][:120]}", path) from None
    _check_ints(data, path)
    return data


def _check_ints(data: Any, path: Path | str, key: str = "") -> None:
    """Every integer of already-parsed data within 64 bits (the depth is already bounded)."""
    if isinstance(data, bool):
        return
    if isinstance(data, int):
        if not INT_MIN <= data <= INT_MAX:
            raise RundiffError("integer outside the 64-bit range", path, key=key or None)
    elif isinstance(data, dict):
        for k, v in data.items():
            _check_ints(v, path, f"{key}.{k}" if key else str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            _check_ints(v, path, f"{key}[{i}]")


class BoundedSafeLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader with nesting depth and alias-expanded size bounded while composing,
    constructor failures (``!!float abc``, 5 000-digit ints) as ``ConstructorError`` with the node's
    line instead of a bare ValueError, and only JSON-like values built (timestamps and binary stay
    the text written, a set is a list)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._weights: dict[int, int] = {}
        self._total = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            node = super().compose_node(parent, index)
            if isinstance(node, yaml.CollectionNode) and id(node) not in self._weights:
                raise yaml.composer.ComposerError(None, None, "an alias inside the value it names (a cycle)", mark)
            self._count(self._weights.get(id(node), 1), mark)
            return node
        mark = self.peek_event().start_mark
        self._depth += 1
        if self._depth > MAX_NESTING:
            raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_NESTING} levels deep", mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._count(1, mark)
        if isinstance(node, yaml.SequenceNode):
            self._weights[id(node)] = 1 + sum(self._weights.get(id(n), 1) for n in node.value)
        elif isinstance(node, yaml.MappingNode):
            self._weights[id(node)] = 1 + sum(
                self._weights.get(id(k), 1) + self._weights.get(id(v), 1) for k, v in node.value
            )
        return node

    def _count(self, weight: int, mark: yaml.Mark) -> None:
        """Values composed so far, each alias counted as the values it stands for."""
        self._total += weight
        if self._total > MAX_YAML_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"more than {MAX_YAML_NODES} values once aliases are expanded (an alias bomb?)", mark
            )

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError, TypeError) as err:
            raise ConstructorError(
                None,
                None,
                f"cannot read {node.tag.rsplit(':', 1)[-1]} value "
                f"{str(getattr(node, 'value', ''))[:40]!r}: {str(err)[:80]}",
                node.start_mark,
            ) from None

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = str(node.value)
        if len(text.replace("_", "").replace(":", "")) > MAX_INT_DIGITS + 2:
            raise ConstructorError(
                None, None, f"integer with {len(text)} digits: too large for a setting", node.start_mark
            )
        value = super().construct_yaml_int(node)
        if not INT_MIN <= value <= INT_MAX:
            raise ConstructorError(None, None, "integer outside the 64-bit range", node.start_mark)
        return value

    def construct_as_written(self, node: yaml.ScalarNode) -> str:
        """Timestamps and binary stay the text written: settings are plain data, never date or bytes objects."""
        return str(self.construct_scalar(node))

    def construct_set_as_list(self, node: yaml.MappingNode) -> list[Any]:
        return list(self.construct_mapping(node))


BoundedSafeLoader.add_constructor("tag:yaml.org,2002:int", BoundedSafeLoader.construct_yaml_int)
BoundedSafeLoader.add_constructor("tag:yaml.org,2002:timestamp", BoundedSafeLoader.construct_as_written)
BoundedSafeLoader.add_constructor("tag:yaml.org,2002:binary", BoundedSafeLoader.construct_as_written)
BoundedSafeLoader.add_constructor("tag:yaml.org,2002:set", BoundedSafeLoader.construct_set_as_list)


def load_yaml(text: str, path: Path | str) -> tuple[Any, yaml.Node | None]:
    """(data, node tree for line numbers) of a YAML document, safely and within bounds."""
    _check_size(text, MAX_YAML_CHARS, path, "YAML")
    loader = None
    try:
        loader = BoundedSafeLoader(text)  # the reader refuses control characters here already
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise RundiffError(f"invalid YAML: {problem}", path, line=line) from None
    except RecursionError:  # nesting is bounded while composing; this is the last line of defence
        raise RundiffError(f"invalid YAML: nested more than {MAX_NESTING} levels deep", path) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, node
