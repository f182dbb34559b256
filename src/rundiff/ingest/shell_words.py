"""The pieces a shell word is made of, and how they expand, without ever running anything.

A lexer (POSIX, cmd or PowerShell) turns text into words made of parts; `Expander` turns those
parts into final strings with the shell's word-splitting rules. Command substitution is never run:
it expands to nothing and is recorded as unresolved, like an unknown variable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rundiff.ingest.shell_arith import MAX_STEPS, ArithError, ArithParser
from rundiff.ingest.shell_glob import trim

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


class CondStr(str):
    """A value that exists only under an `if` rundiff could not decide; `cond` says which and why.

    A str subclass so every caller keeps treating it as text; `Expander.fields` carries the tag
    to the final words built from it, and the launch parser turns a tagged argument into an
    unknown value with this note instead of silently taking one branch.
    """

    cond: str
    certain: int  # leading characters (whole words) that are the same under every alternative

    def __new__(cls, text: str, cond: str, certain: int = 0) -> CondStr:
        obj = super().__new__(cls, text)
        obj.cond = cond
        obj.certain = certain
        return obj


def cond_of(value: object) -> str | None:
    return getattr(value, "cond", None)


def tagged(text: str, cond: str | None) -> str:
    return CondStr(text, cond) if cond else text


#: The most characters one variable or one final word may hold; `x="$x$x"` repeated would otherwise
#: grow without bound. Real launch scripts hold paths and option lists: a few hundred characters.
MAX_VALUE_CHARS = 100_000
#: The most characters all expansions of one script may produce together (time and memory bound).
MAX_EXPANDED_CHARS = 20_000_000
#: The highest array index an assignment may set (bash arrays are sparse; a list here is not).
MAX_ARRAY_INDEX = 4_096
#: The most words one command may have; real launch lines have a few hundred at most.
MAX_COMMAND_WORDS = 20_000


class Cursor:
    """A position in a script's text that keeps its line number: what every lexer moves along."""

    s: str
    i: int
    line: int

    def _peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def _advance(self, n: int = 1) -> str:
        chunk = self.s[self.i : self.i + n]
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
    arith_bits: int = 64  # bash: signed 64-bit; cmd's set /a: signed 32-bit
    arith_power: bool = True  # cmd's set /a has no `**`
    expanded: int = 0  # characters produced by expansions so far (see MAX_EXPANDED_CHARS)
    #: Set by the reader while it reads a branch of an undecidable `if`: tags what is assigned there.
    cond: str | None = None
    #: PowerShell values are typed: "int", "bool", "str" or "list" per variable (truthiness differs).
    types: dict[str, str] = field(default_factory=dict)
    #: Called as on_assign(key, old, new) after every assignment (the reader tracks undecided ifs).
    on_assign: Callable[[str, Value | None, Value], None] | None = None

    def key(self, name: str) -> str:
        return name.lower() if self.fold_case else name

    def lookup(self, name: str) -> Value | None:
        return self.variables.get(self.key(name))

    def assign(self, name: str, value: Value, append: bool = False) -> None:
        key = self.key(name)
        if self.cond and isinstance(value, list):
            value = [tagged(v, cond_of(v) or self.cond) for v in value]
        if append:
            old = self.variables.get(key)
            if isinstance(value, list):
                base = [] if old is None else ([old] if isinstance(old, str) else list(old))
                value = base + value
            elif isinstance(old, list):
                last = old[-1] if old else ""
                value = old[:-1] + [tagged(last + value, cond_of(last) or cond_of(value) or self.cond)]
            else:
                value = tagged((old or "") + value, cond_of(old) or cond_of(value))
        if self.cond and isinstance(value, str):
            value = tagged(value, cond_of(value) or self.cond)
        size = len(value) if isinstance(value, str) else sum(len(v) + 1 for v in value)
        if size > MAX_VALUE_CHARS:
            raise ShellLimitError(f"variable {name} grows past {MAX_VALUE_CHARS} characters")
        old_value = self.variables.get(key)
        self.variables[key] = value
        if self.on_assign is not None:
            self.on_assign(key, old_value, value)

    # -- words ---------------------------------------------------------------------------------

    def fields(self, word: RawWord) -> list[str]:
        """The final words `word` becomes (0, 1 or several); a word built from a conditional value
        is a `CondStr` carrying that condition."""
        out: list[str] = []
        cur: str | None = None
        cur_cond: str | None = None

        def push(text: str) -> None:
            nonlocal cur, cur_cond
            cur = (cur or "") + text
            cur_cond = cur_cond or cond_of(text)
            if len(cur) > MAX_VALUE_CHARS:
                raise ShellLimitError(f"line {word.line}: a word grows past {MAX_VALUE_CHARS} characters")

        def close() -> None:
            nonlocal cur, cur_cond
            if cur is not None:
                out.append(tagged(cur, cur_cond))
            cur, cur_cond = None, None

        for part in word.parts:
            if isinstance(part, Lit):
                push(part.text)
                continue
            before = len(self.unresolved)
            values, mode = self._part_values(part, word.line)
            if len(self.unresolved) > before:  # this part could not be expanded: the word is not known
                missing = ", ".join(dict.fromkeys(_shown(what) for what, _ in self.unresolved[before:]))
                cur_cond = cur_cond or f"built from {missing}, which this script does not set or rundiff does not run"
                values = [tagged(v, cur_cond) for v in values]
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
            for k, text in enumerate(values):  # word splitting, element by element (keeps tags)
                if k:
                    close()
                if not text:
                    continue
                cond = cond_of(text)
                certain = getattr(text, "certain", 0)
                if text[0] in IFS:
                    close()
                for i, m in enumerate(re.finditer(r"\S+", text)):
                    if i:
                        close()
                    push(tagged(m.group(0), None if m.end() <= certain else cond))
                if text[-1] in IFS:
                    close()
        close()
        return out

    def string(self, word: RawWord) -> str:
        """Expansion without word splitting (assignments, here-documents, defaults)."""
        out = []
        cond = None
        for part in word.parts:
            if isinstance(part, Lit):
                out.append(part.text)
            else:
                values, _ = self._part_values(part, word.line)
                cond = cond or next((c for v in values if (c := cond_of(v))), None)
                out.append(" ".join(values))
        text = tagged("".join(out), cond)
        if len(text) > MAX_VALUE_CHARS:
            raise ShellLimitError(f"line {word.line}: a value grows past {MAX_VALUE_CHARS} characters")
        return text

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
        values = self._param(part, line)
        self.expanded += sum(len(v) for v in values)
        if self.expanded > MAX_EXPANDED_CHARS:
            raise ShellLimitError(f"line {line}: expansions produce more than {MAX_EXPANDED_CHARS} characters")
        return values, part.split

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
        out = []
        for v in values:
            if op == ":":
                out.append(self._substring(v, arg, line))
                continue
            result = self._transform(v, op, arg)
            if result is None:
                self.unresolved.append((f"${{{p.name}{op}{_short(arg, 20)}}} (too costly to work out)", line))
                return []
            out.append(result)
        return out

    def _indexed(self, raw: Value | None, index: str, line: int) -> list[str]:
        if raw is None:
            return []
        items = [raw] if isinstance(raw, str) else raw
        i = self.arith(index, line)
        if i is None or not -len(items) <= i < len(items):
            return []
        return [items[i]]

    def _substring(self, value: str, arg: str, line: int) -> str:
        """`${x:offset}` / `${x:offset:length}`, both arithmetic (a negative length counts from the end)."""
        start_s, has_len, len_s = arg.partition(":")
        start = self.arith(start_s, line) if start_s.strip() else 0
        length = self.arith(len_s, line) if has_len and len_s.strip() else None
        if start is None or (has_len and len_s.strip() and length is None):
            return value
        start = max(0, len(value) + start) if start < 0 else min(start, len(value))
        if length is None:
            return value[start:] if not has_len else ""
        end = start + length if length >= 0 else len(value) + length
        return value[start : max(start, end)]

    @staticmethod
    def _transform(value: str, op: str, arg: str) -> str | None:
        if op in ("#", "##", "%", "%%"):
            return trim(value, op, arg)
        if op in ("/", "//"):
            old, _, new = arg.partition("/")
            if not old:  # bash: an empty pattern matches nothing (and str.replace would insert between every char)
                return value
            count = value.count(old) if op == "//" else min(1, value.count(old))
            if len(value) + count * (len(new) - len(old)) > MAX_VALUE_CHARS:
                raise ShellLimitError(f"a ${{...{op}...}} replacement makes a value over {MAX_VALUE_CHARS} characters")
            return value.replace(old, new) if op == "//" else value.replace(old, new, 1)
        if op == "^^":
            return value.upper()
        if op == ",,":
            return value.lower()
        return value

    # -- arithmetic ----------------------------------------------------------------------------

    def arith(self, expr: str, line: int) -> int | None:
        """Integer arithmetic as the shell does it; None (and a record) when it cannot be worked out.

        A variable holding an expression is evaluated once per call (memoised) under one shared step
        budget, so `a1=a0+a0+a0 ... a18=a17+a17+a17; $((a18))` costs 19 evaluations, not 3**18.
        """
        memo: dict[str, int] = {}
        budget = [MAX_STEPS]
        try:
            return self._arith_text(expr, line, 0, memo, budget)
        except ValueError:  # ArithError, or a malformed number such as 08
            self.unresolved.append((f"$(({_short(expr.strip())}))", line))
            return None

    def _arith_text(self, text: str, line: int, depth: int, memo: dict[str, int], budget: list[int]) -> int:
        return ArithParser(
            text,
            lambda name: self._arith_var(name, line, depth, memo, budget),
            bits=self.arith_bits,
            power=self.arith_power,
            budget=budget,
        ).parse()

    def _arith_var(self, name: str, line: int, depth: int, memo: dict[str, int], budget: list[int]) -> int:
        key = self.key(name)
        if key in memo:
            return memo[key]
        if depth > 20:
            raise ArithError("variables refer to each other too deeply")
        raw = self.lookup(name)
        if raw is None:
            self.unresolved.append((name, line))
            value = 0
        else:
            text = raw if isinstance(raw, str) else (raw[0] if raw else "")
            value = self._arith_text(text, line, depth + 1, memo, budget) if text.strip() else 0
        memo[key] = value
        return value


def _shown(what: str) -> str:
    return what if what.startswith("$") else f"${what}"


def _short(text: str, limit: int = 60) -> str:
    """Text from a script cut to a length fit for a one-line warning."""
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass(frozen=True)
class Assign:
    """An assignment a lexer recognised by its own syntax (cmd `set`, PowerShell `$x = ...`)."""

    name: str
    value: RawWord | None = None
    items: tuple[RawWord, ...] | None = None  # an array value
    arith: bool = False  # cmd `set /a`
    append: bool = False  # PowerShell `+=`, `.Add()`
    ps_type: str | None = None  # PowerShell: "int", "bool", "str" or "list" (see Expander.types)


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
    #: Control flow a lexer recognised by its own syntax (cmd `if`, PowerShell `if (...) {`):
    #: ("if" | "elif", condition text) / ("else", "") / ("fi", ""), evaluated by the reader.
    flow: tuple[str, str] | None = None
    #: "&&" / "||" when the command before this one decides whether it runs (POSIX and-or lists).
    after: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.words or self.redirects or self.heredocs or self.assigns or self.flow)

    def add_word(self, word: RawWord, line: int | None = None) -> None:
        """Append a word; past MAX_COMMAND_WORDS the script is refused (naming `line`, else the command's)."""
        self.words.append(word)
        if len(self.words) > MAX_COMMAND_WORDS:
            raise ShellLimitError(
                f"line {self.line if line is None else line}: a command of more than {MAX_COMMAND_WORDS} words"
            )


class CommandLexer(Cursor):
    """A Cursor that gathers RawCommands: the state and steps the POSIX and PowerShell lexers share."""

    def __init__(self, text: str, first_line: int = 1) -> None:
        self.s, self.i, self.line = text, 0, first_line
        self.commands: list[RawCommand] = []
        self.cur = RawCommand(first_line)

    def _end_command(self) -> None:
        if not self.cur.empty:
            self.commands.append(self.cur)
        self.cur = RawCommand(self.line)

    def _skip_comment(self) -> None:
        """To the end of the line; the newline stays, to end the command."""
        while self.i < len(self.s) and self._peek() != "\n":
            self.i += 1


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
