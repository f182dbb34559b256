"""Lexers for Windows launch scripts: cmd.exe batch files and PowerShell; read-only, like the POSIX one.

cmd: `^` continues a line and escapes one character, `%NAME%` / `!NAME!` expand (unquoted values
word-split, because cmd expands before the program splits its command line), `set X=...` and
`set "X=..."` assign, `set /a` does integer arithmetic, `REM` / `::` lines are comments, and `%~dp0`
(the script's own folder) expands to nothing so relative paths stay relative to the script.
PowerShell: a backtick continues a line and escapes one character, `$x` / `${x}` / `$env:X` expand
without word splitting (an array variable becomes one argument per element), `$x = ...` assigns,
`#` and `<# #>` are comments, and the call operator `&` is dropped.
"""

from __future__ import annotations

import re

from rundiff.ingest.shell_words import ArrayLit, Assign, CmdSub, Lit, Param, Part, RawCommand, RawWord

_CMD_PARAM = re.compile(r"%(~[a-zA-Z]*)?([0-9*])|%([^%\n]+)%|!([A-Za-z_][\w.]*)!")

#: cmd names that expand to nothing without being reported (the script's own folder).
CMD_SILENT = frozenset({"~dp0", "~f0", "~0"})


class CmdLexer:
    def __init__(self, text: str, first_line: int = 1) -> None:
        self.lines = text.split("\n")
        self.first_line = first_line
        self.commands: list[RawCommand] = []

    def lex(self) -> list[RawCommand]:
        idx = 0
        while idx < len(self.lines):
            chars: list[tuple[str, int]] = []
            while idx < len(self.lines):
                text, lineno = self.lines[idx].rstrip(" \t"), self.first_line + idx
                idx += 1
                cont = _caret_continues(text)
                chars.extend((c, lineno) for c in (text[:-1] if cont else text))
                if not cont:
                    break
            self._logical(chars)
        return self.commands

    def _logical(self, chars: list[tuple[str, int]]) -> None:
        while chars and chars[0][0] in " \t@":
            chars = chars[1:]
        text = "".join(c for c, _ in chars)
        if not text or text.startswith(":") or re.match(r"(?i)rem(\s|$)", text):
            return
        if re.match(r"(?i)set(\s|$)", text):
            self._set(chars[3:].copy(), chars[0][1])
            return
        self._tokens(chars)

    def _set(self, chars: list[tuple[str, int]], line: int) -> None:
        while chars and chars[0][0] in " \t":
            chars = chars[1:]
        text = "".join(c for c, _ in chars)
        arith = bool(re.match(r"(?i)/a\s", text))
        if arith:
            chars = chars[2:]
            while chars and chars[0][0] in " \t":
                chars = chars[1:]
            text = "".join(c for c, _ in chars)
        elif text.startswith("/"):
            return  # set /p: a value typed at run time
        if text.startswith('"') and text.count('"') >= 2:
            end = text.rindex('"')
            chars, text = chars[1:end], text[1:end]
        name, eq, _ = text.partition("=")
        if not eq or not name.strip():
            return
        op = "+" if arith and name.endswith(("+", "-", "*", "/")) else ""
        value_chars = chars[len(name) + 1:]
        value = RawWord(tuple(_cmd_parts("".join(c for c, _ in value_chars), quoted=True)), line)
        name = name.strip()
        if op:
            name, sym = name[:-1].strip(), name[-1]
            value = RawWord((Param(name, "none"), Lit(sym + "("), *value.parts, Lit(")")), line)
        self.commands.append(RawCommand(line, assigns=[Assign(name, value, arith=arith)]))

    def _tokens(self, chars: list[tuple[str, int]]) -> None:
        cur = RawCommand(chars[0][1])
        parts: list[Part] = []
        buf: list[str] = []
        in_quote = False
        word_line = chars[0][1]
        pending_redirect: str | None = None

        def flush_buf() -> None:
            if buf:
                parts.append(Lit("".join(buf), quoted=in_quote))
                buf.clear()

        def end_word() -> None:
            nonlocal pending_redirect
            flush_buf()
            if parts:
                word = RawWord(tuple(parts), word_line)
                if pending_redirect is not None:
                    cur.redirects.append((pending_redirect, word))
                    pending_redirect = None
                else:
                    cur.words.append(word)
                parts.clear()

        def end_command() -> None:
            nonlocal cur
            end_word()
            if not cur.empty:
                self.commands.append(cur)
            cur = RawCommand(line)

        text = "".join(c for c, _ in chars)
        i = 0
        while i < len(chars):
            c, line = chars[i]
            if not parts and not buf:
                word_line = line
            if c == '"':
                flush_buf()
                if not in_quote and i + 1 < len(chars) and chars[i + 1][0] == '"':
                    parts.append(Lit("", quoted=True))
                in_quote = not in_quote
            elif c in "%!" and (m := _CMD_PARAM.match(text, i)):
                flush_buf()
                parts.append(_cmd_param(m, in_quote))
                i = m.end()
                continue
            elif c == "%" and text.startswith("%%", i):
                buf.append("%")
                i += 1
            elif in_quote:
                buf.append(c)
            elif c == "^":
                i += 1
                if i < len(chars):
                    buf.append(chars[i][0])
            elif c in " \t":
                end_word()
            elif c in "&|":
                end_command()
                if text.startswith(c * 2, i):
                    i += 1
            elif c in "<>":
                fd = "".join(buf) if buf and "".join(buf).isdigit() and not parts else ""
                if fd:
                    buf.clear()
                end_word()
                op = ">>" if text.startswith(">>", i) else c
                i += len(op)
                if text.startswith("&", i):
                    op += "&"
                    i += 1
                pending_redirect = fd + op
                while i < len(chars) and chars[i][0] in " \t":
                    i += 1
                continue
            elif c in "()" and not parts and not buf:
                end_command()
            else:
                buf.append(c)
            i += 1
        end_command()


def _caret_continues(text: str) -> bool:
    """A line ends in a continuation `^` when that caret is unescaped and outside quotes."""
    in_quote = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == '"':
            in_quote = not in_quote
        elif c == "^" and not in_quote:
            if i == len(text) - 1:
                return True
            i += 1
        i += 1
    return False


def _cmd_param(m: re.Match[str], quoted: bool) -> Param:
    split = "none" if quoted else "ifs"
    if m.group(2) is not None:
        modifier = m.group(1) or ""
        return Param(modifier + m.group(2), split)
    name = m.group(3) or m.group(4) or ""
    return Param(name.split(":", 1)[0], split)  # %X:~0,4% / %X:a=b%: the plain value


def _cmd_parts(text: str, quoted: bool) -> list[Part]:
    parts: list[Part] = []
    pos = 0
    for m in _CMD_PARAM.finditer(text):
        if m.start() > pos:
            parts.append(Lit(text[pos:m.start()].replace("%%", "%"), quoted))
        parts.append(_cmd_param(m, quoted))
        pos = m.end()
    if pos < len(text):
        parts.append(Lit(text[pos:].replace("%%", "%"), quoted))
    return parts


# -- PowerShell -------------------------------------------------------------------------------

_PS_NAME = re.compile(r"(?i)(?:(env|global|script|local|private):)?([A-Za-z_]\w*)")
_PS_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "`": "`", '"': '"', "'": "'", "$": "$"}


class PowerShellLexer:
    def __init__(self, text: str, first_line: int = 1) -> None:
        self.s, self.i, self.line = text, 0, first_line
        self.commands: list[RawCommand] = []
        self.cur = RawCommand(first_line)

    def _peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def _advance(self, n: int = 1) -> str:
        chunk = self.s[self.i:self.i + n]
        self.line += chunk.count("\n")
        self.i += n
        return chunk

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
            elif c == "`" and re.match(r"`[ \t]*\n", self.s[self.i:]):
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
                m = re.match(r"[*\d]?>>?(&\d)?", self.s[self.i:])
                assert m
                self._advance(m.end())
                while self._peek() in (" ", "\t"):
                    self._advance()
                if m.group(1) is None and self._peek() not in ("", "\n", ";"):
                    self.cur.redirects.append((m.group(0), self._word()))
            else:
                if not self.cur.words:
                    self.cur.line = self.line
                self.cur.words.append(self._word())
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
                if re.match(r"`[ \t]*\n", self.s[self.i:]):
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
                word = self._word()
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
