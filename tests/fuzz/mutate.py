"""A mutation fuzzer over bytes, seeded from real files, with the hostile tokens rundiff has met.

Each mutant is a seed with one to four edits: byte flips, spans deleted, duplicated (once or a
thousand times), spliced from another seed, truncated, nested in brackets hundreds deep, numbers
swapped for hostile ones (nan, inf, 1e308, subnormals, 4 400-digit integers, '5x', '0.5'), and
tokens inserted from the family's own dictionary (shell expansions, TOML tables, log lines...).
"""

from __future__ import annotations

import random
import re

MAX_INPUT_BYTES = 256 * 1024

HOSTILE_NUMBERS: tuple[bytes, ...] = (
    b"nan",
    b"NaN",
    b"inf",
    b"-inf",
    b"Infinity",
    b"-Infinity",
    b"1e308",
    b"1e309",
    b"-1e308",
    b"1e-320",
    b"5e-324",
    b"0",
    b"-0",
    b"-1",
    b"0.5",
    b"1.5",
    b"5x",
    b"1,2",
    b"0x10",
    b"1_000",
    b"9" * 25,
    b"9" * 400,
    b"9" * 4400,
    b"1" + b"0" * 30,
    str(2**63).encode(),
    str(2**64).encode(),
    str(-(2**63) - 1).encode(),
    b"1e-6",
    # digits that str.isdigit() accepts and int() refuses (superscript, circled), or reads (Arabic-Indic, fullwidth)
    "²".encode(),
    "③".encode(),
    "1²".encode(),
    "٣".encode(),
    "１２".encode(),
    b"100%",
    b"",
    b"true",
    b"null",
    b"None",
    b"-",
    b".",
    b"1e",
    b"--1",
    b"\xef\xbc\x91",
)
GLOBAL_TOKENS: tuple[bytes, ...] = (
    b"\x00",
    b"\xff\xfe",
    b"\xc3",
    b"\r",
    b"\r\n",
    b"\t",
    b"\x1b[2J",
    b"\x1b]0;x\x07",
    b"$\\alpha$",
    b"$\\nosuch$",
    b"<img src=x onerror=alert(1)>",
    b"=cmd|' /C calc'!A0",
    b"{{7*7}}",
    b"{%",
    b"%s%n",
    b"\\",
    b"'",
    b'"',
    b"`",
    b"~nosuchuser_xyz/",
    b"../../../../etc/passwd",
    b"/dev/zero",
    b"/proc/self/fd/0",
    b"A" * 300,
    b"\xe2\x80\xae",
    b"\n" * 3,
    b"#",
    b"//",
    b"--",
    b"=",
    b"==",
    b";",
    b"&&",
    b"|",
    b"&",
    b">",
    b"<",
    b"*",
    b"?",
    b"[",
    b"]",
    b"{",
    b"}",
    b"(",
    b")",
)
_NUMBER = re.compile(rb"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")
_OPENERS = (b"[", b"{", b"(", b"$(", b"$((", b"${", b"`", b'"', b"'", b"- ", b"  ", b"<")
_CLOSERS = {
    b"[": b"]",
    b"{": b"}",
    b"(": b")",
    b"$(": b")",
    b"$((": b"))",
    b"${": b"}",
    b"`": b"`",
    b'"': b'"',
    b"'": b"'",
    b"- ": b"",
    b"  ": b"",
    b"<": b">",
}


class Mutator:
    """Mutants of a family's seeds; deterministic for a given random seed."""

    def __init__(
        self, seeds: list[bytes] | tuple[bytes, ...], tokens: tuple[bytes, ...] = (), rng: random.Random | None = None
    ) -> None:
        self.seeds = [s for s in seeds if s] or [b""]
        self.tokens = tuple(tokens) + GLOBAL_TOKENS
        self.rng = rng or random.Random(0)
        self._edits = (
            self._flip,
            self._delete,
            self._duplicate,
            self._splice,
            self._truncate,
            self._nest,
            self._number,
            self._insert,
            self._insert,
            self._number,
            self._line_endings,
            self._swap_lines,
        )

    def mutant(self) -> bytes:
        data = self.rng.choice(self.seeds)
        for _ in range(self.rng.choice((1, 1, 1, 2, 2, 3, 4))):
            data = self.rng.choice(self._edits)(data)[:MAX_INPUT_BYTES]
        return data

    def _pos(self, data: bytes) -> int:
        return self.rng.randint(0, len(data))

    def _span(self, data: bytes) -> tuple[int, int]:
        start = self._pos(data)
        return start, min(len(data), start + self.rng.choice((1, 2, 4, 8, 16, 64, 256)))

    def _flip(self, data: bytes) -> bytes:
        if not data:
            return bytes([self.rng.randrange(256)])
        i = self.rng.randrange(len(data))
        value = self.rng.choice(
            (
                0,
                0xFF,
                0x0A,
                0x22,
                0x27,
                0x5C,
                0x24,
                0x60,
                0x25,
                0x7B,
                0x5B,
                0xC3,
                data[i] ^ (1 << self.rng.randrange(8)),
                self.rng.randrange(256),
            )
        )
        return data[:i] + bytes([value]) + data[i + 1 :]

    def _delete(self, data: bytes) -> bytes:
        start, end = self._span(data)
        return data[:start] + data[end:]

    def _duplicate(self, data: bytes) -> bytes:
        start, end = self._span(data)
        times = self.rng.choice((2, 3, 10, 100, 1000, 5000))
        piece = data[start:end] * times
        return data[:end] + piece[:MAX_INPUT_BYTES] + data[end:]

    def _splice(self, data: bytes) -> bytes:
        other = self.rng.choice(self.seeds)
        cut, other_cut = self._pos(data), self.rng.randint(0, len(other))
        return data[:cut] + other[other_cut:]

    def _truncate(self, data: bytes) -> bytes:
        return data[: self._pos(data)]

    def _nest(self, data: bytes) -> bytes:
        opener = self.rng.choice(_OPENERS)
        depth = self.rng.choice((2, 10, 70, 200, 1100, 20_000))
        closer = _CLOSERS[opener] * depth if self.rng.random() < 0.7 else b""
        at = self._pos(data)
        return data[:at] + opener * depth + closer + data[at:]

    def _number(self, data: bytes) -> bytes:
        found = list(_NUMBER.finditer(data[:65536]))
        value = self.rng.choice(HOSTILE_NUMBERS)
        if not found:
            at = self._pos(data)
            return data[:at] + value + data[at:]
        match = self.rng.choice(found)
        return data[: match.start()] + value + data[match.end() :]

    def _insert(self, data: bytes) -> bytes:
        token = self.rng.choice(self.tokens)
        at = self._pos(data)
        if self.rng.random() < 0.5:  # at a line start, where a statement or key begins
            at = data.rfind(b"\n", 0, at) + 1
        return data[:at] + token + data[at:]

    def _line_endings(self, data: bytes) -> bytes:
        return data.replace(b"\n", self.rng.choice((b"\r\n", b"\r", b"\n\n", b"\\\n", b"")))

    def _swap_lines(self, data: bytes) -> bytes:
        lines = data.split(b"\n")
        if len(lines) < 2:
            return data
        i, j = self.rng.randrange(len(lines)), self.rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines)
