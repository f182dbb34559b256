"""JSON, TOML and YAML parsed with bounds: nesting depth, expanded size, and integer width.

The standard parsers recurse once per nesting level (a file of 100 000 `[` is a RecursionError),
convert a 4 400-digit integer only to hit Python's digit limit (a ValueError), and PyYAML expands
aliases into a billion-item "bomb". Here each is refused before or while parsing, with one
RundiffError naming the file and line; whatever these return is plain, finite, trusted data.

Integers are held to 64 bits, as TOML's own specification requires (and every trainer setting fits).
A wider integer, in any of the three formats, is never converted: it stays the text written, so the
value reader makes that one value unknown, with its reason, while the rest of the file still counts.
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
    if _LONG_INT.search(stripped):  # quoted before tomllib converts it (past 4 300 digits, a ValueError)
        blanked = _TOML_SKIP.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)  # same offsets as text
        spans = [m.span() for m in _LONG_INT.finditer(blanked)]
        for start, end in reversed(spans):
            text = f'{text[:start]}"{text[start:end]}"{text[end:]}'
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        match = re.search(r"line (\d+)", str(err))
        raise RundiffError(f"invalid TOML: {err}", path, line=int(match.group(1)) if match else None) from None
    except (ValueError, RecursionError) as err:  # tomllib's own int conversion; nesting missed above
        raise RundiffError(f"invalid TOML: {str(err).splitlines()[0][:120]}", path) from None
    return _wide_ints_as_text(data, path)


def _wide_ints_as_text(data: Any, path: Path | str, depth: int = 0) -> Any:
    """``data`` with every integer past 64 bits replaced by its digits. Nesting is bounded here too:
    dotted keys and `[a.b.c]` headers nest tables without a single bracket for the pre-scan to count."""
    if depth > MAX_NESTING:
        raise RundiffError(f"invalid TOML: tables nested more than {MAX_NESTING} levels deep", path)
    if isinstance(data, bool):
        return data
    if isinstance(data, int):
        return data if INT_MIN <= data <= INT_MAX else str(data)
    if isinstance(data, dict):
        return {k: _wide_ints_as_text(v, path, depth + 1) for k, v in data.items()}
    if isinstance(data, list):
        return [_wide_ints_as_text(v, path, depth + 1) for v in data]
    return data
    if isinstance(data, int):
        return data if INT_MIN <= data <= INT_MAX else str(data)
    if isinstance(data, dict):
        return {k: _wide_ints_as_text(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_wide_ints_as_text(v) for v in data]
    return data


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
        except (ValueError, OverflowError, TypeError, IndexError, KeyError, AttributeError) as err:
            # PyYAML's own constructors index an empty scalar (`!!float` with no value: IndexError)
            raise ConstructorError(
                None,
                None,
                f"cannot read {node.tag.rsplit(':', 1)[-1]} value "
                f"{str(getattr(node, 'value', ''))[:40]!r}: {str(err)[:80]}",
                node.start_mark,
            ) from None

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int | str:
        """An integer within 64 bits; a wider one is the text written (as in JSON and TOML here)."""
        text = str(node.value)
        if len(text.replace("_", "").replace(":", "")) > MAX_INT_DIGITS + 2:
            return text
        value = super().construct_yaml_int(node)
        return value if INT_MIN <= value <= INT_MAX else text

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
