"""A lexer for the POSIX/bash subset launch scripts use; it only reads, it never runs anything.

Control structures are not interpreted: `if`, `for`, `case` keywords are left for the reader to
drop, so the commands of every branch are read (the simple approach; see `shell.read_script`).
A comment ends at the end of its line even after a backslash continuation, exactly as bash does,
so a commented-out continuation line ends the command it sits in.
"""

from __future__ import annotations

import re

from rundiff.ingest.shell_words import (
    Arith,
    ArrayLit,
    CmdSub,
    CommandLexer,
    Cursor,
    Heredoc,
    Lit,
    Param,
    Part,
    RawCommand,
    RawWord,
)

_META = set(" \t\n;&|<>()")
_ASSIGN_HEAD = re.compile(r"^([A-Za-z_]\w*)(\+?)=$")
_NAME = re.compile(r"[A-Za-z_]\w*")
_PLAIN_RUN = re.compile(r"[^\s;&|<>()\\'\"$`]+")
_FD = re.compile(r"(\d{1,9})[<>]")
_REDIRECT = re.compile(r"&>>|&>|<<<|<<-|<<|>>|>&|<&|>\||<>|<|>")
_PARAM_OPS = (":-", ":=", ":+", ":?", "##", "%%", "^^", ",,", "//", "-", "=", "+", "?", "#", "%", "^", ",", "/", ":")


class PosixLexer(CommandLexer):
    def __init__(self, text: str, first_line: int = 1) -> None:
        super().__init__(text, first_line)
        self.pending: list[tuple[RawCommand, str, bool, bool, int]] = []
        self.cases: list[bool] = []  # per open `case`: whether a pattern list comes next
        self.patterns: list[str] = []  # the pattern words read so far (`a|b)`)

    # -- top level -----------------------------------------------------------------------------

    def lex(self) -> list[RawCommand]:
        while self.i < len(self.s):
            c = self._peek()
            if c in " \t":
                self._advance()
            elif c == "\\" and self._peek(1) == "\n":
                self._advance(2)
            elif c == "\n":
                self._advance()
                self._end_command()
                self._read_heredoc_bodies()
            elif c == "#":
                self._skip_comment()
            elif c in ";&|()":
                if c == "&" and self._peek(1) == ">":
                    self._redirect("")
                    continue
                if self.cases and self._case_punctuation(c):
                    continue
                op = c * 2 if self._peek(1) == c and c in "&|;" else c
                self._advance(len(op))
                self._end_command()
                if op in ("&&", "||"):
                    self.cur.after = op
            elif c in "<>" or (c.isdigit() and (fd := _FD.match(self.s, self.i))):
                digits = fd.group(1) if c.isdigit() else ""
                self._advance(len(digits))
                self._redirect(digits)
            else:
                if not self.cur.words:
                    self.cur.line = self.line
                self.cur.add_word(self._word())
                self._case_words()
        self._end_command()
        return self.commands

    # -- case ... esac -------------------------------------------------------------------------

    def _case_words(self) -> None:
        """`case WORD in` opens a case; `esac` closes it (both become flow markers for the reader)."""
        words = self.cur.words
        first = words[0].literal if words[0].parts else None
        if first == "case" and len(words) == 3 and words[2].literal == "in":
            self._end_command()
            self.cases.append(True)
        elif self.cases and len(words) == 1 and first == "esac":
            self.cur.words = []
            self._end_command()
            self.commands.append(RawCommand(self.line, flow=("esac", "")))
            self.cases.pop()
            self.patterns = []

    def _case_punctuation(self, c: str) -> bool:
        """`pat|pat)` and `;;` inside a case; True when the character was consumed here."""
        if c == ";" and self._peek(1) == ";":
            self._advance(3 if self._peek(2) == "&" else 2)
            self._end_command()
            self.cases[-1] = True
            return True
        if not self.cases[-1]:
            return False
        if c == "(" and not self.cur.words and not self.patterns:
            self._advance()
            return True
        if c in "|)" and self.cur.words:
            self.patterns.extend(w.literal if w.literal is not None else "\x01" for w in self.cur.words)
            self.cur.words = []
            self._advance()
            if c == ")":
                self.commands.append(RawCommand(self.line, flow=("pattern", "\x00".join(self.patterns))))
                self.patterns = []
                self.cases[-1] = False
            return True
        return False

    def _redirect(self, fd: str) -> None:
        m = _REDIRECT.match(self.s, self.i)
        assert m
        op = m.group(0)
        line = self.line
        self._advance(len(op))
        while self._peek() in (" ", "\t"):
            self._advance()
        target = self._word() if self._peek() and self._peek() not in _META else RawWord((), line)
        if op in ("<<", "<<-"):
            delim = "".join(p.text for p in target.parts if isinstance(p, Lit))
            self.pending.append((self.cur, delim, op == "<<-", target.quoted, line))
        else:
            self.cur.redirects.append((fd + op, target))

    def _read_heredoc_bodies(self) -> None:
        for command, delim, strip_tabs, quoted, line in self.pending:
            body_line = self.line
            lines = []
            while self.i < len(self.s):
                end = self.s.find("\n", self.i)
                end = len(self.s) if end < 0 else end
                text = self.s[self.i : end]
                self._advance(end - self.i + (1 if end < len(self.s) else 0))
                if strip_tabs:
                    text = text.lstrip("\t")
                if text == delim:
                    break
                lines.append(text)
            body = "".join(t + "\n" for t in lines)
            if quoted:
                word = RawWord((Lit(body, quoted=True),), body_line)
            else:
                word = RawWord(tuple(_DoubleQuoted(body, body_line, heredoc=True).parts()), body_line)
            command.heredocs.append(Heredoc(word, line))
        self.pending = []

    # -- words ---------------------------------------------------------------------------------

    def _word(self) -> RawWord:
        start_line = self.line
        parts: list[Part] = []
        buf: list[str] = []

        def flush() -> None:
            if buf:
                parts.append(Lit("".join(buf)))
                buf.clear()

        while self.i < len(self.s):
            c = self._peek()
            if c in _META:
                if c == "(" and not parts and _ASSIGN_HEAD.match("".join(buf)):
                    m = _ASSIGN_HEAD.match("".join(buf))
                    assert m
                    self._advance()
                    return RawWord((ArrayLit(m.group(1), bool(m.group(2)), self._array_items()),), start_line)
                break
            if c == "\\":
                nxt = self._peek(1)
                self._advance(2)
                if nxt != "\n":
                    flush()
                    parts.append(Lit(nxt, quoted=True))
            elif c == "'":
                flush()
                end = self.s.find("'", self.i + 1)
                end = len(self.s) if end < 0 else end
                parts.append(Lit(self.s[self.i + 1 : end], quoted=True))
                self._advance(end + 1 - self.i)
            elif c == "$" and self._peek(1) == "'":
                flush()
                parts.append(Lit(self._ansi_c(), quoted=True))
            elif c == '"':
                flush()
                self._advance()
                dq = _DoubleQuoted(self.s, self.line, start=self.i)
                parts.extend(dq.parts() or [Lit("", quoted=True)])
                self.line, self.i = dq.line, dq.i + 1
            elif c in "$`":
                expansion = _dollar(self, quoted=False)
                if expansion is None:
                    buf.append(self._advance())
                else:
                    flush()
                    parts.append(expansion)
            else:
                m = _PLAIN_RUN.match(self.s, self.i)  # a run of ordinary characters in one step
                buf.append(self._advance(m.end() - self.i if m else 1))
        flush()
        return RawWord(tuple(parts), start_line)

    def _array_items(self) -> tuple[RawWord, ...]:
        items = []
        while self.i < len(self.s):
            c = self._peek()
            if c in " \t\n":
                self._advance()
            elif c == "\\" and self._peek(1) == "\n":
                self._advance(2)
            elif c == "#":
                self._skip_comment()
            elif c == ")":
                self._advance()
                break
            elif c in _META:
                self._advance()
            else:
                items.append(self._word())
        return tuple(items)

    def _ansi_c(self) -> str:
        self._advance(2)
        out = []
        escapes = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"', "r": "\r"}
        while self.i < len(self.s) and self._peek() != "'":
            c = self._advance()
            if c == "\\" and self.i < len(self.s):
                nxt = self._advance()
                out.append(escapes.get(nxt, "\\" + nxt))
            else:
                out.append(c)
        self._advance()
        return "".join(out)


class _DoubleQuoted(Cursor):
    """The inside of "..." (or an unquoted here-document body when `heredoc`)."""

    def __init__(self, s: str, line: int, start: int = 0, heredoc: bool = False) -> None:
        self.s, self.i, self.line, self.heredoc = s, start, line, heredoc

    def parts(self) -> list[Part]:
        parts: list[Part] = []
        buf: list[str] = []
        while self.i < len(self.s):
            c = self._peek()
            if c == '"' and not self.heredoc:
                break
            if c == "\\" and self._peek(1) and self._peek(1) in ('$`"\\\n' if not self.heredoc else "$`\\\n"):
                nxt = self._advance(2)[1]
                if nxt != "\n":
                    buf.append(nxt)
            elif c in "$`":
                expansion = _dollar(self, quoted=True)
                if expansion is None:
                    buf.append(self._advance())
                else:
                    if buf:
                        parts.append(Lit("".join(buf), quoted=True))
                        buf.clear()
                    parts.append(expansion)
            else:
                buf.append(self._advance())
        if buf:
            parts.append(Lit("".join(buf), quoted=True))
        return parts


def _matching(s: str, i: int, open_: str, close: str) -> int:
    """Index of the `close` that balances the `open_` just before `i` (quotes respected)."""
    depth = 1
    while i < len(s):
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "'" and open_ == "{":
            j = s.find("'", i + 1)
            i = len(s) if j < 0 else j + 1
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return len(s)


def _dollar(lx: PosixLexer | _DoubleQuoted, quoted: bool) -> Part | None:
    """Read one `$...` or backtick expansion at the cursor; None if the `$` is literal."""
    s, i = lx.s, lx.i
    split = "none" if quoted else "ifs"
    line = lx.line
    if s[i] == "`":
        end = s.find("`", i + 1)
        end = len(s) if end < 0 else end
        lx._advance(end + 1 - i)
        return CmdSub(s[i + 1 : end])
    nxt = s[i + 1] if i + 1 < len(s) else ""
    if s.startswith("$((", i):
        end = _matching(s, i + 3, "(", ")")
        inner = s[i + 3 : end]
        lx._advance(end + 2 - i)
        return Arith(RawWord(tuple(_DoubleQuoted(inner, line, heredoc=True).parts()), line), split)
    if nxt == "(":
        end = _matching(s, i + 2, "(", ")")
        lx._advance(end + 1 - i)
        return CmdSub(s[i + 2 : end])
    if nxt == "{":
        end = _matching(s, i + 2, "{", "}")
        inner = s[i + 2 : end]
        lx._advance(end + 1 - i)
        return _braced(inner, line, split)
    m = _NAME.match(s, i + 1)
    if m:
        lx._advance(m.end() - i)
        return Param(m.group(0), split)
    if nxt and (nxt.isdigit() or nxt in "@*#?$!-"):
        lx._advance(2)
        return Param(nxt, split, index="@" if nxt in "@*" else None)
    return None


def _braced(inner: str, line: int, split: str) -> Part:
    length = inner.startswith("#") and len(inner) > 1
    body = inner[1:] if length else inner
    m = re.match(r"([A-Za-z_]\w*|\d+|[@*#?$!])(?:\[([^\]]*)\])?", body)
    if not m:
        return Lit("${" + inner + "}", quoted=True)
    name, index = m.group(1), m.group(2)
    rest = body[m.end() :]
    op = next((o for o in _PARAM_OPS if rest.startswith(o)), None) if rest else None
    arg = None
    if op is not None:
        arg_text = rest[len(op) :]
        arg = RawWord(tuple(_arg_parts(arg_text, line)), line)
    return Param(name, split, index=index, op=op, arg=arg, length=length)


def _arg_parts(text: str, line: int) -> list[Part]:
    """The word after `:-` etc.: quotes are removed, expansions kept, spaces are literal."""
    lx = PosixLexer(text, line)
    parts: list[Part] = []
    while lx.i < len(text):
        c = lx._peek()
        if c in _META:
            parts.append(Lit(lx._advance(), quoted=True))
        else:
            parts.extend(lx._word().parts)
    return parts
