"""A lexer for cmd.exe batch files (.bat/.cmd); read-only, like the POSIX one.

`^` continues a line and escapes one character, `%NAME%` / `!NAME!` expand (unquoted values
word-split, because cmd expands before the program splits its command line), `set X=...` and
`set "X=..."` assign, `set /a` does integer arithmetic, `REM` / `::` lines are comments, and `%~dp0`
(the script's own folder) expands to nothing so relative paths stay relative to the script.
"""

from __future__ import annotations

import re

from rundiff.ingest.shell_words import Assign, Lit, Param, Part, RawCommand, RawWord

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
