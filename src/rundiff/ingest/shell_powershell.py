"""A lexer for PowerShell launch scripts (.ps1); read-only, like the POSIX one.

A backtick continues a line and escapes one character, `$x` / `${x}` / `$env:X` expand without
word splitting (an array variable becomes one argument per element), `$x = ...` / `$x += ...`
assign (arrays as `@(...)`), `#` and `<# #>` are comments, and the call operator `&` is dropped.
"""

from __future__ import annotations

import re

from rundiff.ingest.shell_words import ArrayLit, Assign, CmdSub, Cursor, Lit, Param, Part, RawCommand, RawWord

_PS_NAME = re.compile(r"(?i)(?:(env|global|script|local|private):)?([A-Za-z_]\w*)")
_CONTINUATION = re.compile(r"`[ \t]*\n")
_PS_REDIRECT = re.compile(r"[*\d]?>>?(&\d)?")
_PS_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "`": "`", '"': '"', "'": "'", "$": "$"}


class PowerShellLexer(Cursor):
    def __init__(self, text: str, first_line: int = 1) -> None:
        self.s, self.i, self.line = text, 0, first_line
        self.commands: list[RawCommand] = []
        self.cur = RawCommand(first_line)

    def _end_command(self) -> None:
        words = self.cur.words
        if words and len(words[0].parts) >= 1 and isinstance(words[0].parts[0], Param):
            assign = _ps_assignment(words)
            if assign is not None:
                self.cur.words, self.cur.assigns = [], [assign]
        if not self.cur.empty:
            self.commands.append(self.cur)
        self.cur = RawCommand(self.line)

    def lex(self) -> list[RawCommand]:
        while self.i < len(self.s):
            c = self._peek()
            if c in " \t":
                self._advance()
            elif c == "`" and _CONTINUATION.match(self.s, self.i):
                self._advance(self.s.index("\n", self.i) + 1 - self.i)
            elif c in "\n;":
                self._advance()
                self._end_command()
            elif self.s.startswith("<#", self.i):
                end = self.s.find("#>", self.i)
                self._advance((len(self.s) if end < 0 else end + 2) - self.i)
            elif c == "#":
                while self.i < len(self.s) and self._peek() != "\n":
                    self.i += 1
            elif c in "&|":
                double = self._peek(1) == c
                self._advance(2 if double else 1)
                if c == "|" or double or self.cur.words:
                    self._end_command()
            elif c in ">" or (c in "*123456" and self._peek(1) == ">"):
                m = _PS_REDIRECT.match(self.s, self.i)
                assert m
                self._advance(m.end())
                while self._peek() in (" ", "\t"):
                    self._advance()
                if m.group(1) is None and self._peek() not in ("", "\n", ";"):
                    self.cur.redirects.append((m.group(0), self._word()))
            else:
                if not self.cur.words:
                    self.cur.line = self.line
                start = self.i
                self.cur.words.append(self._word())
                if self.i == start:
                    self._advance()
        self._end_command()
        return self.commands

    def _word(self) -> RawWord:
        start = self.line
        parts: list[Part] = []
        buf: list[str] = []

        def flush() -> None:
            if buf:
                parts.append(Lit("".join(buf)))
                buf.clear()

        if self.s.startswith("@(", self.i):
            self._advance(2)
            return RawWord((ArrayLit("", False, self._array_items()),), start)
        while self.i < len(self.s):
            c = self._peek()
            if c in " \t\n;|" or (c == "&" and not buf and not parts):
                break
            if c == "`":
                if _CONTINUATION.match(self.s, self.i):
                    break
                nxt = self._advance(2)[1:]
                flush()
                parts.append(Lit(_PS_ESCAPES.get(nxt, nxt), quoted=True))
            elif c == "'":
                flush()
                self._advance()
                out = []
                while self.i < len(self.s):
                    ch = self._advance()
                    if ch == "'":
                        if self._peek() != "'":
                            break
                        self._advance()
                    out.append(ch)
                parts.append(Lit("".join(out), quoted=True))
            elif c == '"':
                flush()
                self._advance()
                parts.extend(self._double_quoted() or [Lit("", quoted=True)])
            elif c == "$" and (param := self._dollar("elements")) is not None:
                flush()
                parts.append(param)
            else:
                buf.append(self._advance())
        flush()
        return RawWord(tuple(parts), start)

    def _double_quoted(self) -> list[Part]:
        parts: list[Part] = []
        buf: list[str] = []
        while self.i < len(self.s):
            c = self._peek()
            if c == '"':
                self._advance()
                if self._peek() != '"':
                    break
                buf.append(self._advance())
            elif c == "`":
                nxt = self._advance(2)[1:]
                buf.append(_PS_ESCAPES.get(nxt, nxt))
            elif c == "$" and (param := self._dollar("none")) is not None:
                if buf:
                    parts.append(Lit("".join(buf), quoted=True))
                    buf.clear()
                parts.append(param)
            else:
                buf.append(self._advance())
        if buf:
            parts.append(Lit("".join(buf), quoted=True))
        return parts

    def _dollar(self, split: str) -> Part | None:
        if self._peek(1) == "(":
            start = self.i
            depth = 0
            while self.i < len(self.s):
                ch = self._advance()
                depth += {"(": 1, ")": -1}.get(ch, 0)
                if ch == ")" and depth == 0:
                    break
            return CmdSub(self.s[start + 2:self.i - 1])
        if self._peek(1) == "{":
            end = self.s.find("}", self.i)
            if end < 0:
                return None
            name = self.s[self.i + 2:end]
            self._advance(end + 1 - self.i)
            return Param(_ps_name(name), split)
        m = _PS_NAME.match(self.s, self.i + 1)
        if not m:
            return None
        self._advance(m.end() - self.i)
        return Param(_ps_name(m.group(0)), split)

    def _array_items(self) -> tuple[RawWord, ...]:
        items = []
        while self.i < len(self.s):
            c = self._peek()
            if c in " \t\n,;":
                self._advance()
            elif c == ")":
                self._advance()
                break
            else:
                start = self.i
                word = self._word()
                if self.i == start:  # a character no word may start with: skip it
                    self._advance()
                    continue
                text = word.parts
                tail = text[-1] if text else None
                if isinstance(tail, Lit) and not tail.quoted and tail.text.endswith((",", ")")):
                    last = tail.text
                    closing = last.endswith(")")
                    word = RawWord((*text[:-1], Lit(last.rstrip(",)"))), word.line)
                    items.append(word)
                    if closing:
                        break
                    continue
                items.append(word)
        return tuple(items)


def _ps_name(name: str) -> str:
    scope, _, rest = name.rpartition(":")
    return f"env:{rest}" if scope.lower() == "env" else rest


def _ps_assignment(words: list[RawWord]) -> Assign | None:
    first = words[0].parts
    name = first[0].name  # type: ignore[union-attr]
    tail: list[Part] = list(first[1:])
    rest = words[1:]
    head = rest[0].parts[0] if rest and rest[0].parts else None
    if not tail and isinstance(head, Lit) and not head.quoted:
        tail, rest = list(rest[0].parts), rest[1:]
    if not tail or not isinstance(tail[0], Lit) or tail[0].quoted:
        return None
    op = re.match(r"[+]?=", tail[0].text)
    if not op or tail[0].text.startswith("=="):
        return None
    leftover = tail[0].text[op.end():]
    value_words = ([RawWord(tuple([Lit(leftover)] if leftover else []) + tuple(tail[1:]), words[0].line)]
                   if leftover or tail[1:] else []) + rest
    append = op.group(0) == "+="
    if len(value_words) == 1 and value_words[0].parts and isinstance(value_words[0].parts[0], ArrayLit):
        return Assign(name, items=value_words[0].parts[0].items, append=append)
    if not value_words:
        return Assign(name, RawWord((), words[0].line), append=append)
    joined: list[Part] = []
    for k, w in enumerate(value_words):
        if k:
            joined.append(Lit(" "))
        joined.extend(p if not isinstance(p, Param) else Param(p.name, "none") for p in w.parts)
    return Assign(name, RawWord(tuple(joined), value_words[0].line), append=append)
