"""A lexer for PowerShell launch scripts (.ps1); read-only, like the POSIX one.

A backtick continues a line and escapes one character, `$x` / `${x}` / `$env:X` expand without
word splitting (an array variable becomes one argument per element), `$x = ...` / `$x += ...`
assign (arrays as `@(...)`), `#` and `<# #>` are comments, and the call operator `&` is dropped.
"""

from __future__ import annotations

import re

from rundiff.ingest.shell_words import (
    ArrayLit,
    Assign,
    CmdSub,
    CommandLexer,
    Lit,
    Param,
    Part,
    RawCommand,
    RawWord,
)

_PS_NAME = re.compile(r"(?i)(?:(env|global|script|local|private):)?([A-Za-z_]\w*)")
_CONTINUATION = re.compile(r"`[ \t]*\n")
_PS_REDIRECT = re.compile(r"[*\d]?>>?(&\d)?")
_PS_IF = re.compile(r"(?i)(if|elseif)\s*\(")
_PS_ELSE = re.compile(r"(?i)else(?=\s*\{|\s*$|\s*\n)")
_PS_METHOD = re.compile(r"(?i)(\$(?:\{[^}]+\}|[A-Za-z_]\w*))\.(Add|AddRange)\(")
_PS_ASSIGN = re.compile(r"(?i)(\$(?:\{[^}]+\}|(?:(?:env|global|script|local|private):)?[A-Za-z_]\w*))[ \t]*(\+?=)(?!=)")
_PS_NEW_LIST = re.compile(
    r"(?i)(?:\[(?:System\.)?Collections\.(?:ArrayList|Generic\.List\[[\w.]+\])\]::new\(\s*\)"
    r"|New-Object\s+(?:-TypeName\s+)?(?:System\.)?Collections\.(?:ArrayList|Generic\.List\[[\w.]+\]))"
)
_PS_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")
_PS_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "`": "`", '"': '"', "'": "'", "$": "$"}


class PowerShellLexer(CommandLexer):
    def __init__(self, text: str, first_line: int = 1) -> None:
        super().__init__(text, first_line)
        self.blocks: list[str] = []

    def _end_command(self) -> None:
        words = self.cur.words
        if words and len(words[0].parts) >= 1 and isinstance(words[0].parts[0], Param):
            assign = _ps_assignment(words)
            if assign is not None:
                self.cur.words, self.cur.assigns = [], [assign]
        super()._end_command()

    def lex(self) -> list[RawCommand]:
        while self.i < len(self.s):
            c = self._peek()
            at_start = not self.cur.words and not self.cur.assigns
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
                self._skip_comment()
            elif at_start and (m := _PS_IF.match(self.s, self.i)):
                self._conditional("if" if m.group(1).lower() == "if" else "elif", m.end())
            elif at_start and (m := _PS_ELSE.match(self.s, self.i)):
                line = self.line
                self._advance(m.end() - self.i)
                self.commands.append(RawCommand(line, flow=("else", "")))
                self._open_block("if")
            elif c == "{":
                self._end_command()
                self._advance()
                self.blocks.append("other")
            elif c == "}":
                self._end_command()
                self._advance()
                self._close_block()
            elif at_start and self.s[self.i : self.i + 6].lower() == "[void]":
                self._advance(6)
            elif at_start and (m := _PS_METHOD.match(self.s, self.i)):
                self._method(m)
            elif at_start and (m := _PS_ASSIGN.match(self.s, self.i)):
                self._assignment(m)
            elif c in "&|":
                double = self._peek(1) == c
                self._advance(2 if double else 1)
                if c == "|" or double or self.cur.words:
                    self._end_command()
            elif c in ">" or (c in "*123456" and self._peek(1) == ">"):
                m = _PS_REDIRECT.match(self.s, self.i)
                assert m
                self._advance(m.end() - self.i)
                while self._peek() in (" ", "\t"):
                    self._advance()
                if m.group(1) is None and self._peek() not in ("", "\n", ";"):
                    self.cur.redirects.append((m.group(0), self._word()))
            else:
                if not self.cur.words:
                    self.cur.line = self.line
                start = self.i
                self.cur.add_word(self._word())
                if self.i == start:
                    self._advance()
        self._end_command()
        while self.blocks:  # an unclosed block at the end of the file
            if self.blocks.pop() == "if":
                self.commands.append(RawCommand(self.line, flow=("fi", "")))
        return self.commands

    # -- control flow ----------------------------------------------------------------------------

    def _conditional(self, kind: str, after_paren: int) -> None:
        line = self.line
        self._advance(after_paren - self.i)
        start = self.i
        depth = 1
        quote = ""
        while self.i < len(self.s) and depth:
            ch = self._advance()
            if quote:
                if ch == quote:
                    quote = ""
            elif ch in "\"'":
                quote = ch
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
        text = self.s[start : self.i - 1] if not depth else self.s[start : self.i]
        self.commands.append(RawCommand(line, flow=(kind, text)))
        self._open_block("if")

    def _open_block(self, kind: str) -> None:
        """Skip to the `{` that opens the block of an if/elseif/else."""
        while self.i < len(self.s) and self._peek() in " \t\n":
            self._advance()
        if self._peek() == "{":
            self._advance()
        self.blocks.append(kind)

    def _close_block(self) -> None:
        kind = self.blocks.pop() if self.blocks else "other"
        if kind != "if":
            return
        j, lines = self.i, 0
        while j < len(self.s):  # an `else` may follow the `}` on a later line, after comments
            if self.s[j] in " \t\n":
                lines += self.s[j] == "\n"
                j += 1
            elif self.s[j] == "#":
                while j < len(self.s) and self.s[j] != "\n":
                    j += 1
            else:
                break
        if _PS_IF.match(self.s, j) and self.s[j : j + 6].lower() == "elseif" or _PS_ELSE.match(self.s, j):
            self.line += lines
            self.i = j
            self.cur = RawCommand(self.line)
            return
        self.commands.append(RawCommand(self.line, flow=("fi", "")))

    # -- expression mode -------------------------------------------------------------------------

    def _method(self, m: re.Match[str]) -> None:
        """`$list.Add(expr)` / `.AddRange(@(...))`: an ArrayList append, the idiom of train.ps1."""
        line = self.line
        name = _ps_name(m.group(1).strip("${}"))
        self._advance(m.end() - self.i)
        items = self._call_items(m.group(2).lower() == "addrange")
        self.cur.assigns.append(Assign(name, items=items, append=True, ps_type="list"))
        self.cur.line = line

    def _call_items(self, many: bool) -> tuple[RawWord, ...]:
        parts, kind, items = self._expression(stop=")")
        if self._peek() == ")":
            self._advance()
        if kind == "list":
            return items
        if many and len(parts) == 1 and isinstance(parts[0], Param):
            return (RawWord((Param(parts[0].name, "elements"),), self.line),)
        return (RawWord(tuple(parts), self.line),)

    def _assignment(self, m: re.Match[str]) -> None:
        line = self.line
        name = _ps_name(m.group(1)[1:].strip("{}"))
        append = m.group(2) == "+="
        self._advance(m.end() - self.i)
        while self._peek() in (" ", "\t"):
            self._advance()
        call = _PS_METHOD.match(self.s, self.i)
        if name.lower() == "null" and call:  # `$null = $list.Add(...)`
            self._method(call)
            return
        parts, kind, items = self._expression(stop="")
        if kind == "list":
            assign = Assign(name, items=items, append=append, ps_type="list")
        else:
            assign = Assign(name, RawWord(tuple(parts), line), append=append, ps_type=kind)
        self.cur.assigns.append(assign)
        self.cur.line = line

    def _expression(self, stop: str) -> tuple[list[Part], str, tuple[RawWord, ...]]:
        """A PowerShell expression up to the end of the statement (or `stop` at depth 0).

        Returns (parts, type, items): string concatenation with `+` becomes the parts of one value;
        `@(...)`, `[System.Collections.ArrayList]::new()` and `New-Object ...List` an array (items);
        anything else (a command, a method call, arithmetic) one command substitution, so the value
        is reported as not worked out instead of guessed.
        """
        start = self.i
        parts: list[Part] = []
        kind = "str"
        operands = 0
        expect_operand = True
        while self.i < len(self.s):
            c = self._peek()
            if c in " \t":
                self._advance()
                continue
            if c == "`" and _CONTINUATION.match(self.s, self.i):
                self._advance(self.s.index("\n", self.i) + 1 - self.i)
                continue
            if c in "\n;}#" or (stop and c == stop) or c == "|":
                break
            if not expect_operand and c == "+":
                self._advance()
                expect_operand = True
                continue
            if not expect_operand:
                return self._unworkable(start, stop)
            expect_operand = False
            operands += 1
            if c == '"':
                self._advance()
                parts.extend(self._double_quoted())
            elif c == "'":
                parts.extend(self._word_single())
            elif c == "$":
                param = self._dollar("none")
                if param is None or self._peek() in (".", "[", "("):
                    return self._unworkable(start, stop)
                if isinstance(param, Param) and param.name.lower() in ("true", "false"):
                    kind = "bool"
                parts.append(param)
            elif self.s.startswith("@(", self.i):
                self._advance(2)
                items = self._array_items()
                return [], "list", items
            elif (m := _PS_NEW_LIST.match(self.s, self.i)) is not None:
                self._advance(m.end() - self.i)
                return [], "list", ()
            elif (m := _PS_NUMBER.match(self.s, self.i)) is not None:
                self._advance(m.end() - self.i)
                parts.append(Lit(m.group(0)))
                kind = "int" if operands == 1 else kind
            else:
                return self._unworkable(start, stop)
        if operands > 1:
            kind = "str"
        return parts, kind, ()

    def _unworkable(self, start: int, stop: str) -> tuple[list[Part], str, tuple[RawWord, ...]]:
        depth = 0
        while self.i < len(self.s):
            c = self._peek()
            if c == "(":
                depth += 1
            elif c == ")":
                if depth == 0 and stop == ")":
                    break
                depth -= 1
            elif c in "\n;}" and depth <= 0:
                break
            self._advance()
        return [CmdSub(self.s[start : self.i].strip())], "str", ()

    def _word_single(self) -> list[Part]:
        """A single-quoted string: no expansion, `''` stands for one quote."""
        self._advance()
        out = []
        while self.i < len(self.s):
            ch = self._advance()
            if ch == "'":
                if self._peek() != "'":
                    break
                self._advance()
            out.append(ch)
        return [Lit("".join(out), quoted=True)]

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
        if (m := re.compile(r"@([A-Za-z_]\w*)").match(self.s, self.i)) is not None:  # splatting: @args
            self._advance(m.end() - self.i)
            return RawWord((Param(m.group(1), "elements"),), start)
        while self.i < len(self.s):
            c = self._peek()
            if c in " \t\n;|" or (c == "&" and not buf and not parts) or (c == "}" and self.blocks):
                break
            if c == "`":
                if _CONTINUATION.match(self.s, self.i):
                    break
                nxt = self._advance(2)[1:]
                flush()
                parts.append(Lit(_PS_ESCAPES.get(nxt, nxt), quoted=True))
            elif c == "'":
                flush()
                parts.extend(self._word_single())
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
            return CmdSub(self.s[start + 2 : self.i - 1])
        if self._peek(1) == "{":
            end = self.s.find("}", self.i)
            if end < 0:
                return None
            name = self.s[self.i + 2 : end]
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
    leftover = tail[0].text[op.end() :]
    value_words = (
        [RawWord(tuple([Lit(leftover)] if leftover else []) + tuple(tail[1:]), words[0].line)]
        if leftover or tail[1:]
        else []
    ) + rest
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
