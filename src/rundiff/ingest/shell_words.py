"""The pieces a shell word is made of, and how they expand, without ever running anything.

A lexer (POSIX, cmd or PowerShell) turns text into words made of parts; `Expander` turns those
parts into final strings with the shell's word-splitting rules. Command substitution is never run:
it expands to nothing and is recorded as unresolved, like an unknown variable.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

from rundiff.ingest.shell_arith import ArithError, ArithParser

IFS = " \t\n"


@dataclass(frozen=True)
class Lit:
    """Literal text; `quoted` text is never word-split (it is literal either way)."""

    text: str
    quoted: bool = False


@dataclass(frozen=True)
class Param:
    """`$name`, `${name[index]op arg}`, `%name%`. `split` is "ifs", "none" or "elements"."""

    name: str
    split: str = "ifs"
    index: str | None = None  # "@", "*", or an integer expression
    op: str | None = None  # ":-", "=", "#", "%%", ...
    arg: RawWord | None = None
    length: bool = False  # ${#name}


@dataclass(frozen=True)
class Arith:
    """`$((expr))`: the expression's own expansions first, then integer arithmetic."""

    expr: RawWord
    split: str = "ifs"


@dataclass(frozen=True)
class CmdSub:
    """`$(...)` or backticks: never executed."""

    text: str


@dataclass(frozen=True)
class ArrayLit:
    """`name=(a b c)` / `name+=(...)` (the whole word)."""

    name: str
    append: bool
    items: tuple[RawWord, ...]


Part = Lit | Param | Arith | CmdSub | ArrayLit


@dataclass(frozen=True)
class RawWord:
    parts: tuple[Part, ...]
    line: int

    @property
    def literal(self) -> str | None:
        """The word's text when it is made of literal parts only."""
        if all(isinstance(p, Lit) for p in self.parts):
            return "".join(p.text for p in self.parts)  # type: ignore[union-attr]
        return None

    @property
    def quoted(self) -> bool:
        return any(isinstance(p, Lit) and p.quoted for p in self.parts)


Value = str | list[str]


#: The most characters one variable may hold; `x="$x$x"` repeated would otherwise grow without bound.
MAX_VALUE_CHARS = 1_000_000


class Cursor:
    """A position in a script's text that keeps its line number: what every lexer moves along."""

    s: str
    i: int
    line: int

    def _peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def _advance(self, n: int = 1) -> str:
        chunk = self.s[self.i:self.i + n]
        self.line += chunk.count("\n")
        self.i += n
        return chunk


class ShellLimitError(ValueError):
    """The script grows a value past what any real launch script needs."""


@dataclass
class Expander:
    """Expands words against a variable table; unknown names are recorded, never fatal."""

    variables: dict[str, Value]
    fold_case: bool = False  # cmd and PowerShell names are case-insensitive
    unresolved: list[tuple[str, int]] = field(default_factory=list)
    silent: frozenset[str] = frozenset()  # names that expand to "" without a warning (cmd's %~dp0)
    script_dir: str | None = None  # what `$(dirname "$0")` and its idioms stand for

    def key(self, name: str) -> str:
        return name.lower() if self.fold_case else name

    def lookup(self, name: str) -> Value | None:
        return self.variables.get(self.key(name))

    def assign(self, name: str, value: Value, append: bool = False) -> None:
        key = self.key(name)
        if append:
            old = self.variables.get(key)
            if isinstance(value, list):
                base = [] if old is None else ([old] if isinstance(old, str) else list(old))
                value = base + value
            elif isinstance(old, list):
                value = old[:-1] + [(old[-1] if old else "") + value]
            else:
                value = (old or "") + value
        size = len(value) if isinstance(value, str) else sum(len(v) + 1 for v in value)
        if size > MAX_VALUE_CHARS:
            raise ShellLimitError(f"variable {name} grows past {MAX_VALUE_CHARS} characters")
        self.variables[key] = value

    # -- words ---------------------------------------------------------------------------------

    def fields(self, word: RawWord) -> list[str]:
        """The final words `word` becomes (0, 1 or several)."""
        out: list[str] = []
        cur: str | None = None

        def push(text: str) -> None:
            nonlocal cur
            cur = (cur or "") + text

        def close() -> None:
            nonlocal cur
            if cur is not None:
                out.append(cur)
            cur = None

        for part in word.parts:
            if isinstance(part, Lit):
                push(part.text)
                continue
            values, mode = self._part_values(part, word.line)
            if mode == "none":
                if not values and not (isinstance(part, Param) and part.index == "@"):
                    push("")  # "$unset" is still one (empty) word
                elif len(values) == 1:
                    push(values[0])
                elif values:  # "${a[@]}": one word per element, joined to the text around
                    push(values[0])
                    for v in values[1:]:
                        close()
                        push(v)
                continue
            if mode == "elements":
                for i, v in enumerate(values):
                    if i:
                        close()
                    push(v)
                continue
            text = " ".join(values)
            if not text:
                continue
            if text[0] in IFS:
                close()
            pieces = text.split()
            for i, piece in enumerate(pieces):
                if i:
                    close()
                push(piece)
            if text[-1] in IFS:
                close()
        close()
        return out

    def string(self, word: RawWord) -> str:
        """Expansion without word splitting (assignments, here-documents, defaults)."""
        out = []
        for part in word.parts:
            if isinstance(part, Lit):
                out.append(part.text)
            else:
                values, _ = self._part_values(part, word.line)
                out.append(" ".join(values))
        return "".join(out)

    def _part_values(self, part: Part, line: int) -> tuple[list[str], str]:
        if isinstance(part, CmdSub):
            if self.script_dir is not None and is_script_dir_idiom(part.text):
                return [self.script_dir], "none"
            self.unresolved.append((f"$({part.text})", line))
            return [], "ifs"
        if isinstance(part, Arith):
            result = self.arith(self.string(part.expr), line)
            return ([] if result is None else [str(result)]), part.split
        if isinstance(part, ArrayLit):  # only meaningful as an assignment; keep its text
            return [self.string(w) for w in part.items], "ifs"
        assert isinstance(part, Param)
        return self._param(part, line), part.split

    def _param(self, p: Param, line: int) -> list[str]:
        raw = self.lookup(p.name)
        if p.index in ("@", "*") or (p.split == "elements" and p.index is None and isinstance(raw, list)):
            values = [] if raw is None else ([raw] if isinstance(raw, str) else list(raw))
            if p.index == "*" and p.split == "none":
                values = [" ".join(values)] if values else []
        elif p.index is not None:
            values = self._indexed(raw, p.index, line)
        else:
            values = [] if raw is None else [raw if isinstance(raw, str) else (raw[0] if raw else "")]
        if p.length:
            return [str(len(raw) if isinstance(raw, list) and p.index else len(values[0] if values else ""))]
        is_set = raw is not None
        value = " ".join(values)
        op = p.op
        if op in (":-", "-", ":=", "=", ":?", "?"):
            use_default = (not is_set) if op in ("-", "=", "?") else (not value)
            if use_default:
                default = self.string(p.arg) if p.arg else ""
                if op in (":=", "="):
                    self.assign(p.name, default)
                if op in (":?", "?"):
                    self.unresolved.append((p.name, line))
                return [default]
            return values
        if op in (":+", "+"):
            use_alt = is_set if op == "+" else bool(value)
            return [self.string(p.arg) if p.arg else ""] if use_alt else []
        if not is_set:
            if self.key(p.name) not in self.silent:
                self.unresolved.append((p.name, line))
            return []
        if op is None:
            return values
        arg = self.string(p.arg) if p.arg else ""
        return [self._transform(v, op, arg) for v in values]

    def _indexed(self, raw: Value | None, index: str, line: int) -> list[str]:
        if raw is None:
            return []
        items = [raw] if isinstance(raw, str) else raw
        i = self.arith(index, line)
        if i is None or not -len(items) <= i < len(items):
            return []
        return [items[i]]

    @staticmethod
    def _transform(value: str, op: str, arg: str) -> str:
        if op in ("#", "##"):
            ends = range(len(value) + 1) if op == "#" else range(len(value), -1, -1)
            for end in ends:
                if fnmatch.fnmatchcase(value[:end], arg):
                    return value[end:]
            return value
        if op in ("%", "%%"):
            starts = range(len(value), -1, -1) if op == "%" else range(len(value) + 1)
            for start in starts:
                if fnmatch.fnmatchcase(value[start:], arg):
                    return value[:start]
            return value
        if op in ("/", "//"):
            old, _, new = arg.partition("/")
            return value.replace(old, new) if op == "//" else value.replace(old, new, 1)
        if op == "^^":
            return value.upper()
        if op == ",,":
            return value.lower()
        if op == ":":  # ${x:offset:length}
            start_s, _, len_s = arg.partition(":")
            try:
                start = int(start_s.strip() or 0)
                return value[start:start + int(len_s)] if len_s.strip() else value[start:]
            except ValueError:
                return value
        return value

    # -- arithmetic ----------------------------------------------------------------------------

    def arith(self, expr: str, line: int) -> int | None:
        """Integer arithmetic as bash does it; None (and a record) when it cannot be worked out."""
        try:
            return ArithParser(expr, lambda name: self._arith_var(name, line, 0)).parse()
        except ValueError:  # ArithError, or a malformed number such as 08
            self.unresolved.append((f"$(({expr.strip()}))", line))
            return None

    def _arith_var(self, name: str, line: int, depth: int) -> int:
        if depth > 20:
            raise ArithError("variables refer to each other too deeply")
        raw = self.lookup(name)
        if raw is None:
            self.unresolved.append((name, line))
            return 0
        text = raw if isinstance(raw, str) else (raw[0] if raw else "")
        if not text.strip():
            return 0
        return ArithParser(text, lambda n: self._arith_var(n, line, depth + 1)).parse()


@dataclass(frozen=True)
class Assign:
    """An assignment a lexer recognised by its own syntax (cmd `set`, PowerShell `$x = ...`)."""

    name: str
    value: RawWord | None = None
    items: tuple[RawWord, ...] | None = None  # an array value
    arith: bool = False  # cmd `set /a`
    append: bool = False  # PowerShell `+=`


@dataclass
class Heredoc:
    body: RawWord
    line: int  # the line of the `<<` operator


@dataclass
class RawCommand:
    """One simple command before expansion, as a lexer saw it."""

    line: int
    words: list[RawWord] = field(default_factory=list)
    redirects: list[tuple[str, RawWord]] = field(default_factory=list)
    heredocs: list[Heredoc] = field(default_factory=list)
    assigns: list[Assign] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.words or self.redirects or self.heredocs or self.assigns)


_SCRIPT_REF = r"\$(?:0|\{?BASH_SOURCE(?:\[0\])?\}?)"
_SCRIPT_DIR_IDIOMS = (
    re.compile(rf"^dirname {_SCRIPT_REF}$"),
    re.compile(rf"^(?:realpath|readlink -f) \$\(dirname {_SCRIPT_REF}\)$"),
    re.compile(rf"^dirname \$\((?:realpath|readlink -f) {_SCRIPT_REF}\)$"),
    re.compile(rf"^cd \$\(dirname {_SCRIPT_REF}\) ?(?:&&|;) ?pwd$"),
)


def is_script_dir_idiom(text: str) -> bool:
    """`$(dirname "$0")`, `$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)` and kin: the script's folder.

    These are the one kind of command substitution whose value is known without running anything.
    """
    normal = re.sub(r"\s*[12]?>\s*/dev/null|\s*2>&1|\s--(?=\s)|\s-P(?=\s)", "", text.replace('"', "").replace("'", ""))
    normal = re.sub(r"\s+", " ", normal).strip()
    return any(p.match(normal) for p in _SCRIPT_DIR_IDIOMS)
