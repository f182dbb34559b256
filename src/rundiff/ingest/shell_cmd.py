"""A lexer for cmd.exe batch files (.bat/.cmd); read-only, like the POSIX one.

`^` continues a line and escapes one character, `%NAME%` / `!NAME!` expand (unquoted values
word-split, because cmd expands before the program splits its command line), `set X=...` and
`set "X=..."` assign, `set /a` does integer arithmetic, `REM` / `::` lines are comments, and `%~dp0`
(the script's own folder) expands to nothing so relative paths stay relative to the script.
"""

from __future__ import annotations

import re

from rundiff.ingest.shell_words import Assign, Expander, Lit, Param, Part, RawCommand, RawWord

_CMD_PARAM = re.compile(r"%(~[a-zA-Z]*)?([0-9*])|%([^%\n]+)%|!([A-Za-z_][\w.]*)!")

#: cmd names that expand to nothing without being reported (the script's own folder).
CMD_SILENT = frozenset({"~dp0", "~f0", "~0"})


class CmdLexer:
    def __init__(self, text: str, first_line: int = 1) -> None:
        self.lines = text.split("\n")
        self.first_line = first_line
        self.commands: list[RawCommand] = []
        self.blocks: list[str] = []  # "if" for the ( ) of an if/else, "other" for any other block

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
        while self.blocks:  # a block left open at the end of the file
            if self.blocks.pop() == "if":
                self.commands.append(RawCommand(self.first_line + len(self.lines), flow=("fi", "")))
        return self.commands

    def _logical(self, chars: list[tuple[str, int]]) -> None:
        while chars and chars[0][0] in " \t@":
            chars = chars[1:]
        text = "".join(c for c, _ in chars)
        if not text or text.startswith(":") or re.match(r"(?i)rem(\s|$)", text):
            return
        line = chars[0][1]
        if text.startswith(")") and self.blocks:
            self._close_block(chars[1:], line)
            return
        if re.match(r"(?i)if\s", text):
            self._if(chars, text, line)
            return
        if re.match(r"(?i)for\s", text):
            if text.rstrip().endswith("("):
                self.blocks.append("other")
            return  # loops are not interpreted
        if text.startswith("("):
            self.blocks.append("other")
            self._logical(chars[1:])
            return
        if re.match(r"(?i)set(\s|$)", text):
            self._set(chars[3:].copy(), chars[0][1])
            return
        self._tokens(chars)

    def _if(self, chars: list[tuple[str, int]], text: str, line: int) -> None:
        """`if [/i] [not] cond command`, `if cond (` ... `) else (` ... `)`, one line or several."""
        end = _condition_end(text, 2)
        self.commands.append(RawCommand(line, flow=("if", text[2:end].strip())))
        rest = chars[end:]
        while rest and rest[0][0] in " \t":
            rest = rest[1:]
        self._branch(rest, line)

    def _branch(self, rest: list[tuple[str, int]], line: int) -> None:
        """The command or `(` block after an if's condition or an `else`."""
        text = "".join(c for c, _ in rest)
        if not text.startswith("("):
            if text.strip():
                head, else_at = _split_else(text)
                self._logical(rest[: len(head)])
                if else_at is not None:
                    self.commands.append(RawCommand(line, flow=("else", "")))
                    self._branch(_lstrip(rest[else_at:]), line)
                    return
            self.commands.append(RawCommand(line, flow=("fi", "")))
            return
        close = _matching_paren(text)
        if close is None:  # the block goes on over the next lines
            self.blocks.append("if")
            if text[1:].strip():
                self._logical(rest[1:])
            return
        if text[1:close].strip():
            self._logical(rest[1:close])
        self._after_block(rest[close + 1 :], line)

    def _close_block(self, after: list[tuple[str, int]], line: int) -> None:
        if self.blocks.pop() != "if":
            if "".join(c for c, _ in after).strip():
                self._logical(after)
            return
        self._after_block(after, line)

    def _after_block(self, after: list[tuple[str, int]], line: int) -> None:
        after = _lstrip(after)
        text = "".join(c for c, _ in after)
        m = re.match(r"(?i)else\b\s*", text)
        if m:
            self.commands.append(RawCommand(line, flow=("else", "")))
            self._branch(after[m.end() :], line)
            return
        self.commands.append(RawCommand(line, flow=("fi", "")))
        if text.strip():
            self._logical(after)

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
        value_chars = chars[len(name) + 1 :]
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
                    cur.add_word(word, word.line)
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
                fd = "".join(buf) if buf and "".join(buf).isascii() and "".join(buf).isdigit() and not parts else ""
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
            parts.append(Lit(text[pos : m.start()].replace("%%", "%"), quoted))
        parts.append(_cmd_param(m, quoted))
        pos = m.end()
    if pos < len(text):
        parts.append(Lit(text[pos:].replace("%%", "%"), quoted))
    return parts


def _lstrip(chars: list[tuple[str, int]]) -> list[tuple[str, int]]:
    while chars and chars[0][0] in " \t":
        chars = chars[1:]
    return chars


def _matching_paren(text: str) -> int | None:
    depth, quoted = 0, False
    for i, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif quoted or c == "^":
            continue
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
    return None


def _split_else(text: str) -> tuple[str, int | None]:
    m = re.search(r"(?i)\s+else\s+", text)
    return (text[: m.start()], m.end()) if m else (text, None)


_COMPARE_OPS = ("EQU", "NEQ", "LSS", "LEQ", "GTR", "GEQ")


def _token_end(text: str, i: int) -> int:
    """End of one cmd token at `i`: a quoted string (and what is glued to it) or a run of non-blanks."""
    while i < len(text) and text[i] not in " \t":
        if text[i] == '"':
            j = text.find('"', i + 1)
            i = len(text) if j < 0 else j + 1
            continue
        if text.startswith("==", i):
            break
        i += 1
    return i


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def _condition_end(text: str, i: int) -> int:
    """Where the condition of `if` (text[i:] follows the keyword) ends and its command begins."""
    i = _skip(text, i)
    while True:
        end = _token_end(text, i)
        if text[i:end].lower() in ("/i", "not"):
            i = _skip(text, end)
            continue
        break
    word = text[i : _token_end(text, i)].lower()
    if word in ("defined", "exist", "errorlevel", "cmdextversion"):
        i = _skip(text, _token_end(text, i))
        return _token_end(text, i)
    i = _token_end(text, i)
    i = _skip(text, i)
    i = _skip(text, i + 2) if text.startswith("==", i) else _skip(text, _token_end(text, i))
    return _token_end(text, i)


def cmd_condition(text: str, x: Expander, line: int) -> bool | None:
    """The truth of a cmd `if` condition on the script's own variables; None when undecidable."""
    i, negate, fold = _skip(text, 0), False, False
    while True:
        end = _token_end(text, i)
        word = text[i:end].lower()
        if word == "/i":
            fold = True
        elif word == "not":
            negate = not negate
        else:
            break
        i = _skip(text, end)
    end = _token_end(text, i)
    keyword = text[i:end].lower()

    def value(token: str) -> str:
        return x.string(RawWord(tuple(_cmd_parts(token, quoted=True)), line))

    if keyword == "defined":
        name = text[_skip(text, end) :].strip()
        result: bool | None = True if x.lookup(name) is not None else None  # the environment may set it
    elif keyword in ("exist", "errorlevel", "cmdextversion"):
        return None
    else:
        left = value(text[i:end])
        j = _skip(text, end)
        if text.startswith("==", j):
            op, k = "==", _skip(text, j + 2)
        else:
            op_end = _token_end(text, j)
            op, k = text[j:op_end].upper(), _skip(text, op_end)
        right = value(text[k : _token_end(text, k)])
        if fold:
            left, right = left.lower(), right.lower()
        if op == "==":
            result = left == right
        elif op in _COMPARE_OPS:
            try:
                a, b = int(left.strip('"')), int(right.strip('"'))
            except ValueError:
                a, b = left, right  # type: ignore[assignment]
            result = {"EQU": a == b, "NEQ": a != b, "LSS": a < b, "LEQ": a <= b, "GTR": a > b, "GEQ": a >= b}[op]
        else:
            return None
    return None if result is None else result != negate
