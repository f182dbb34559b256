"""Read a launch script (.sh/.bash, .bat/.cmd, .ps1) into simple commands, never executing anything.

The reader walks the script top to bottom, keeping a table of variables: assignments (`X=..`,
`export`, `declare`/`local`/`readonly`, arrays `a=(..)`/`a+=(..)`, cmd `set`, PowerShell `$x =`)
update it, and every other command is expanded against it into final words, each with the 1-based
line where its word starts in the file (an expansion such as `${extArgs[@]}` gives all its words
the line of the expansion). Unknown variables and command substitutions expand to nothing and are
recorded per command as unresolved, so the caller can warn.

Control flow: an `if` whose test compares the script's own variables picks its branch; any other
test is undecidable and then every branch is read in file order (see `shell_flow`). Loop bodies
are read once; `for`/`select`/`case` headers are skipped. Here-documents are never read as
commands: a body written to a file (`cat > name <<EOL`, `cat <<EOL > name`, `tee name <<EOL`) is
kept as a virtual file (expanded unless the delimiter was quoted), so a later `--config_file=name`
can be resolved to it without anything touching the disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from rundiff.ingest.shell_cmd import CMD_SILENT, CmdLexer, cmd_condition
from rundiff.ingest.shell_flow import Flow, alternatives, evaluate
from rundiff.ingest.shell_glob import matches
from rundiff.ingest.shell_posix import PosixLexer
from rundiff.ingest.shell_powershell import PowerShellLexer
from rundiff.ingest.shell_pscond import ps_condition
from rundiff.ingest.shell_words import (
    MAX_ARRAY_INDEX,
    ArrayLit,
    Assign,
    CmdSub,
    CondStr,
    Expander,
    Lit,
    Param,
    RawCommand,
    RawWord,
    ShellLimitError,
    Value,
    cond_of,
)

DIALECTS = ("posix", "cmd", "powershell")
_RESERVED = frozenset({"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "function"})
_SKIPPED_HEADS = frozenset({"for", "select"})
_DECLARERS = frozenset({"export", "declare", "typeset", "local", "readonly"})
#: The most commands one script may hold (time bound; launch scripts have a few hundred).
MAX_COMMANDS = 50_000
_ASSIGN = re.compile(r"^([A-Za-z_]\w*)(?:\[([^\]]*)\])?(\+?)=")


class Word(NamedTuple):
    """One final word of a command and the line (1-based) where it starts."""

    text: str
    line: int


@dataclass
class Command:
    words: list[Word]
    line: int
    env: dict[str, str] = field(default_factory=dict)  # `X=1 cmd ...` prefixes
    unresolved: list[tuple[str, int]] = field(default_factory=list)  # (variable, line)

    @property
    def texts(self) -> list[str]:
        return [w.text for w in self.words]


@dataclass(frozen=True)
class VirtualFile:
    """A file the script writes from a here-document; `name` exactly as the script spells it."""

    name: str
    text: str
    line: int  # line of the `<<`
    unresolved: tuple[tuple[str, int], ...] = ()


@dataclass
class ShellScript:
    commands: list[Command]
    virtual_files: dict[str, VirtualFile]
    variables: dict[str, Value]
    #: How the text was read where that differs from the shell's own rules ("line N: ..."), for warnings.
    notes: list[str] = field(default_factory=list)


def dialect_for(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    return {".bat": "cmd", ".cmd": "cmd", ".ps1": "powershell", ".psm1": "powershell"}.get(suffix, "posix")


#: File suffixes read as launch scripts (zsh, ksh and dash scripts use the POSIX syntax launch scripts need).
SCRIPT_SUFFIXES = frozenset({".sh", ".bash", ".zsh", ".ksh", ".dash", ".bat", ".cmd", ".ps1", ".psm1"})


def read_script(text: str, dialect: str = "posix", first_line: int = 1, script_dir: str | None = None) -> ShellScript:
    """The commands of `text`, expanded; `first_line` is the file line of the text's first line.

    ``script_dir`` is the folder of the script file, which `$(dirname "$0")` idioms expand to.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown shell dialect {dialect!r}")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    notes: list[str] = []
    if dialect == "posix":
        text = _lenient_continuations(text, first_line, notes)
    lexer = {"posix": PosixLexer, "cmd": CmdLexer, "powershell": PowerShellLexer}[dialect](text, first_line)
    variables: dict[str, Value] = {}
    if dialect == "powershell":
        variables.update({"true": "True", "false": "False", "null": ""})
    expander = Expander(
        variables,
        fold_case=dialect != "posix",
        silent=CMD_SILENT if dialect == "cmd" else frozenset(),
        script_dir=script_dir,
        arith_bits=32 if dialect == "cmd" else 64,
        arith_power=dialect != "cmd",
    )
    script = _Reader(expander, dialect).run(lexer.lex())
    script.notes[:0] = notes
    return script


_TRAILING_BLANKS = re.compile(r"\\[ \t]+\n")
_CARET_END = re.compile(r"[ \t]\^[ \t]*\n")


def _lenient_continuations(text: str, first_line: int, notes: list[str]) -> str:
    """Continuations people write that bash itself would not join, read as the author meant them.

    `\\` followed by blanks (bash: an escaped blank, and the command ends), and a `.sh` written with
    cmd's `^` at line ends (copied from Windows instructions). Each is named in a note.
    """

    def line_of(pos: int) -> int:
        return first_line + text.count("\n", 0, pos)

    for m in list(_TRAILING_BLANKS.finditer(text))[:3]:
        notes.append(
            f"{line_of(m.start())}: blanks after the line-continuation backslash (bash would end the "
            "command here); read as a continuation"
        )
    text = _TRAILING_BLANKS.sub("\\\n", text)
    if _CARET_END.search(text) and not re.search(r"\\\n", text):
        notes.append(
            f"{line_of(_CARET_END.search(text).start())}: lines end in cmd's `^`; read as line "  # type: ignore[union-attr]
            "continuations, as the author meant them (bash would not join them)"
        )
        text = _CARET_END.sub(" \\\n", text)
    return text


class _Reader:
    def __init__(self, expander: Expander, dialect: str) -> None:
        self.x = expander
        self.dialect = dialect
        self.commands: list[Command] = []
        self.files: dict[str, VirtualFile] = {}
        self.flow = Flow()
        self.line = 0
        self.notes: list[str] = []
        self.assigned: list[str] = []  # keys assigned by the current assignment (see _assign_tainted)
        self.depth = 0  # nesting of `eval` / `bash -c` strings read as commands
        self.pending_test: list | None = None  # [keyword, value, text, line] of an `if` waiting for `then`
        self.case_subjects: list[str | None] = []
        self.status: bool | None = True  # the exit status of the last command, when it is a test
        self.status_text = ""
        expander.on_assign = self._note_assign

    def run(self, raw_commands: list[RawCommand]) -> ShellScript:
        if len(raw_commands) > MAX_COMMANDS:
            raise ShellLimitError(f"more than {MAX_COMMANDS} commands; real launch scripts have a few hundred")
        for raw in raw_commands:
            self.x.unresolved = []
            self.line = raw.line
            self._command(raw)
        return ShellScript(self.commands, self.files, self.x.variables, self.notes)

    def _note_assign(self, key: str, old: Value | None, new: Value) -> None:
        """Remember what an undecidable `if` assigns, so its alternatives can be named at its end."""
        self.assigned.append(key)
        for frame in self.flow.frames:
            if frame.current is None and isinstance(new, str) and not isinstance(old, list):
                frame.before.setdefault(key, None if old is None else str(old))
                frame.values.setdefault(key, {})[frame.branch] = str(new)

    def _close_if(self) -> None:
        frame = self.flow.close()
        if frame is None:
            return
        for key, options in alternatives(frame).items():
            current = self.x.variables.get(key)
            if isinstance(current, list):
                continue
            text = str(current or "")
            extra = [o for o in options if o is not None and o != text]
            certain = _common_words(text, extra) if None not in options else 0
            if certain:  # `set X=%X% --flag` under an undecidable if: only the added words are in doubt
                shown = " or ".join(
                    repr(o[certain:].strip()) if o[certain:].strip() else "nothing" for o in options if o is not None
                )
            else:
                shown = " or ".join("unset" if o is None else repr(o) for o in options)
            verb = "ends in" if certain else "is"
            where = f"the if at line {frame.line} ({frame.text})"
            cond = f"${key} {verb} {shown} depending on {where}, which cannot be decided"
            self.x.variables[key] = CondStr(text, cond, certain)

    def _flow(self, kind: str, test: bool | None, text: str, line: int) -> None:
        if kind == "if":
            self.flow.open_if(test, line, text)
            self.flow.then()
        elif kind == "elif":
            self.flow.elif_(test)
            self.flow.then()
        elif kind == "else":
            self.flow.else_()
        elif kind == "fi":
            self._close_if()

    def _command(self, raw: RawCommand) -> None:
        words = list(raw.words)
        if raw.flow is not None:
            self._flow_marker(raw)
            return
        if self.dialect == "posix":
            if (
                self.pending_test is not None
                and raw.after in ("&&", "||")
                and words
                and words[0].literal not in ("then", "elif", "else", "fi")
            ):
                self.pending_test[1] = _combine(self.pending_test[1], raw.after, self._test(words))
                self.pending_test[2] += f" {raw.after} " + " ".join(_written(w) for w in words)
                return
            while words and words[0].literal in _RESERVED and not words[0].quoted:
                keyword = words.pop(0).literal
                if keyword in ("if", "elif"):
                    self.pending_test = [keyword, self._test(words), " ".join(_written(w) for w in words), raw.line]
                    return
                if keyword in ("while", "until"):
                    return  # the loop test is not a command of interest
                if keyword == "then":
                    self._apply_pending_test()
                    self.flow.then()
                elif keyword == "else":
                    self.flow.else_()
                elif keyword == "fi":
                    self._close_if()
            if words and words[0].literal in _SKIPPED_HEADS:
                return
            if words and words[0].literal == "case" and len(words) == 3:
                subject = self._test_value(words[1])
                self.case_subjects.append(subject)
                self.flow.open_if(False, raw.line, f"case {_written(words[1])}")
                self.flow.then()
                return
        if not self.flow.active:
            return
        after_cond = None
        if raw.after in ("&&", "||") and self.dialect == "posix":
            runs = self.status if raw.after == "&&" else (None if self.status is None else not self.status)
            if runs is False:
                return  # `[ "$X" = 1 ] && ARGS+=(...)` with a false test: the command never runs
            if runs is None:
                verdict = "holds" if raw.after == "&&" else "fails"
                after_cond = (
                    f"given only if the test before {raw.after} at line {raw.line} "
                    f"({self.status_text}) {verdict}, which cannot be decided"
                )
        self.x.cond = self.flow.condition() or after_cond
        try:
            self._simple(raw, words)
        finally:
            self.x.cond = None

    def _flow_marker(self, raw: RawCommand) -> None:
        kind, text = raw.flow  # type: ignore[misc]
        if kind == "pattern":  # one pattern list of a case: an elif that matches the subject
            subject = self.case_subjects[-1] if self.case_subjects else None
            patterns = text.split("\x00")
            if subject is None or "\x01" in patterns:
                test = None
            else:
                hits = [matches(subject, p) for p in patterns]
                test = True if True in hits else (None if None in hits else False)
            self.flow.elif_(test)
            self.flow.then()
            return
        if kind == "esac":
            if self.case_subjects:
                self.case_subjects.pop()
            self._close_if()
            return
        test = self._dialect_test(text, raw.line) if kind in ("if", "elif") and self.flow.active else None
        self._flow(kind, test, text, raw.line)

    def _apply_pending_test(self) -> None:
        if self.pending_test is None:
            return
        kind, test, text, line = self.pending_test
        self.pending_test = None
        if kind == "if":
            self.flow.open_if(test, line, text)
        else:
            self.flow.elif_(test)

    def _test_value(self, word: RawWord) -> str | None:
        """A word's value for a test, or None when it depends on something not known."""
        before = len(self.x.unresolved)
        value = self.x.string(word)
        return None if len(self.x.unresolved) > before or cond_of(value) else value

    def _dialect_test(self, text: str, line: int) -> bool | None:
        before = len(self.x.unresolved)
        if self.dialect == "powershell":
            result = ps_condition(text, self.x)
        elif self.dialect == "cmd":
            result = cmd_condition(text, self.x, line)
        else:
            result = None
        return None if len(self.x.unresolved) > before else result

    def _assign_tainted(self, do, line: int) -> None:
        """Run one assignment; a value built from something never run or not worked out is tagged."""
        before = len(self.x.unresolved)
        self.assigned = []
        do()
        missing = list(dict.fromkeys(what for what, _ in self.x.unresolved[before:]))
        if not missing:
            return
        shown = ", ".join(what if what.startswith("$") else f"${what}" for what in missing)
        for key in dict.fromkeys(self.assigned):
            value = self.x.variables.get(key)
            if isinstance(value, str):
                why = (
                    f"built from ${key}, set at line {line} from {shown}, which this script does not set "
                    "or rundiff does not run"
                )
                self.x.variables[key] = CondStr(value, why)

    def _simple(self, raw: RawCommand, words: list[RawWord]) -> None:
        for assign in raw.assigns:
            self._assign_tainted(lambda a=assign: self._lexer_assign(a), raw.line)
        prefix: list[RawWord] = []
        while words and _is_assignment(words[0]):
            prefix.append(words.pop(0))
        if not words:
            for w in prefix:
                self._assign_tainted(lambda w=w: self._assign_word(w), w.line)
        env = {}
        if words:
            for w in prefix:
                name, _, _, value = _split_assignment(w)  # type: ignore[misc]
                env[name] = self.x.string(value) if isinstance(value, RawWord) else ""
        final: list[Word] = [Word(t, w.line) for w in words for t in self.x.fields(w)]
        head = final[0].text if final else ""
        if head in _DECLARERS:
            for w in words[1:]:
                if _is_assignment(w):
                    self._assign_tainted(lambda w=w: self._assign_word(w), w.line)
        elif head == "unset":
            for w in final[1:]:
                self.x.variables.pop(self.x.key(w.text), None)
        for heredoc in raw.heredocs:
            self._heredoc(raw, heredoc.body, heredoc.line, final)
        self.status, self.status_text = True, ""
        if final and final[0].text in ("[", "[[", "test", "!", "true", "false"):
            texts = [w.text for w in final]
            self.status = {"true": True, "false": False}.get(texts[0])
            if self.status is None:
                self.status = None if self.x.unresolved or any(cond_of(t) for t in texts) else evaluate(texts)
            self.status_text = " ".join(texts)[:80]
            return
        inner = _inner_command(final)
        if inner is not None and self.depth < 3:
            self._read_inner(*inner)
            return
        if final:
            self.commands.append(Command(final, final[0].line, env, list(self.x.unresolved)))

    def _read_inner(self, text: str, dialect: str, line: int) -> None:
        """`eval "$CMD"`, `bash -c "..."`, `cmd /c "..."`: the string is a command line; read it, never run it."""
        lexer = {"posix": PosixLexer, "cmd": CmdLexer, "powershell": PowerShellLexer}[dialect](text, line)
        unresolved = list(self.x.unresolved)
        self.depth += 1
        try:
            for raw in lexer.lex():
                raw.line = line
                self.x.unresolved = list(unresolved)
                self._command(raw)
        finally:
            self.depth -= 1

    def _test(self, words: list[RawWord]) -> bool | None:
        before = len(self.x.unresolved)
        double = (
            bool(words)
            and words[0].literal == "[["
            or (len(words) > 1 and words[0].literal == "!" and words[1].literal == "[[")
        )
        # inside [[ ]] nothing is word-split: `[[ $x ]]` with an empty $x is one empty word
        texts = [self.x.string(w) for w in words] if double else [t for w in words for t in self.x.fields(w)]
        if len(self.x.unresolved) > before or any(cond_of(t) for t in texts):
            return None  # an unset variable (the environment may set it) or an undecided value
        return evaluate(texts)

    def _heredoc(self, raw: RawCommand, body: RawWord, line: int, final: list[Word]) -> None:
        unresolved_before = len(self.x.unresolved)
        text = self.x.string(body)
        unresolved = tuple(self.x.unresolved[unresolved_before:])
        del self.x.unresolved[unresolved_before:]
        target, append = None, False
        for op, word in raw.redirects:
            if op in (">", "1>", ">|", ">>", "1>>", "&>", "&>>"):
                target, append = self.x.string(word), op.endswith(">>")
        if target is None and final and Path(final[0].text).name == "tee":
            args = [w.text for w in final[1:] if not w.text.startswith("-")]
            append = any(w.text in ("-a", "--append") for w in final[1:])
            target = args[0] if args else None
        if not target:
            return
        if append and target in self.files:
            old = self.files[target]
            text = old.text + text
            unresolved = old.unresolved + unresolved
        self.files[target] = VirtualFile(target, text, line, unresolved)

    def _lexer_assign(self, assign: Assign) -> None:
        current = self.x.lookup(assign.name)
        if assign.ps_type is not None:
            self.x.types[self.x.key(assign.name)] = (
                "list" if assign.append and isinstance(current, list) else assign.ps_type
            )
        if assign.items is not None:
            values = [t for w in assign.items for t in self.x.fields(w)]
            self.x.assign(assign.name, values, append=assign.append)
            return
        text = self.x.string(assign.value) if assign.value is not None else ""
        if assign.arith:
            result = self.x.arith(text, assign.value.line if assign.value else 0)
            text = "" if result is None else str(result)
        source = assign.value.parts if assign.value is not None else ()
        if assign.ps_type is not None and len(source) == 1 and isinstance(source[0], Param):
            other = self.x.lookup(source[0].name)
            if isinstance(other, list):  # `$b = $a` copies an array in PowerShell
                self.x.types[self.x.key(assign.name)] = "list"
                self.x.assign(assign.name, list(other), append=assign.append)
                return
        if assign.append and assign.ps_type is not None and isinstance(current, list):
            self.x.assign(assign.name, [text], append=True)  # PowerShell `$list += "x"` adds an element
            return
        self.x.assign(assign.name, text, append=assign.append)

    def _assign_word(self, word: RawWord) -> None:
        split = _split_assignment(word)
        if split is None:
            return
        name, index, append, value = split
        if isinstance(value, tuple):  # an array literal
            items = [t for w in value for t in self.x.fields(w)]
            self.x.assign(name, items, append=append)
            return
        text = self.x.string(value)
        if index is None:
            self.x.assign(name, text, append=append)
            return
        i = self.x.arith(index, word.line)
        current = self.x.lookup(name)
        items = [] if current is None else ([current] if isinstance(current, str) else list(current))
        if i is not None and not 0 <= i <= MAX_ARRAY_INDEX:
            self.x.unresolved.append((f"{name}[{i}] (index outside 0..{MAX_ARRAY_INDEX}; not set)", word.line))
        elif i is not None:
            items.extend([""] * (i + 1 - len(items)))
            items[i] = items[i] + text if append else text
            self.x.assign(name, items)


_SHELLS = {
    "sh": "posix",
    "bash": "posix",
    "zsh": "posix",
    "ksh": "posix",
    "dash": "posix",
    "cmd": "cmd",
    "cmd.exe": "cmd",
    "powershell": "powershell",
    "powershell.exe": "powershell",
    "pwsh": "powershell",
    "pwsh.exe": "powershell",
}


def _inner_command(final: list[Word]) -> tuple[str, str, int] | None:
    """(text, dialect, line) when the command runs a string as a command line (eval, `bash -c`, ...)."""
    texts = [w.text for w in final]
    if not texts:
        return None
    head = Path(texts[0].replace("\\", "/")).name.lower()
    if head == "eval" and len(texts) > 1:
        return " ".join(texts[1:]), "posix", final[0].line
    dialect = _SHELLS.get(head)
    if dialect is None:
        return None
    flags = {"posix": ("-c",), "cmd": ("/c", "/k", "/C", "/K"), "powershell": ("-command", "-c")}[dialect]
    for i, t in enumerate(texts[1:-1], start=1):
        if t.lower() in flags or t in flags:
            return " ".join(texts[i + 1 :]) if dialect != "posix" else texts[i + 1], dialect, final[0].line
    return None


def _combine(left: bool | None, op: str, right: bool | None) -> bool | None:
    """Three-valued `&&` / `||` of two tests (None: cannot be decided)."""
    if op == "&&":
        return False if False in (left, right) else (True if left and right else None)
    return True if True in (left, right) else (False if left is False and right is False else None)


def _common_words(text: str, others: list[str]) -> int:
    """Length of the leading whole words `text` shares with every other alternative."""
    end = 0
    for other in others:
        n = 0
        for a, b in zip(text, other, strict=False):
            if a != b:
                break
            n += 1
        if n < min(len(text), len(other)) or (n < max(len(text), len(other))):
            longer = text if len(text) > len(other) else other
            while n > 0 and not (n <= len(longer) and (n == len(longer) or longer[n] in " \t")):
                n -= 1
            if n > 0 and n < len(longer) and longer[n] not in " \t":
                n = 0
        end = n if end == 0 else min(end, n)
    return end


def _written(word: RawWord) -> str:
    """A word roughly as the script wrote it (for warnings)."""
    out = []
    for p in word.parts:
        if isinstance(p, Lit):
            out.append(p.text)
        elif isinstance(p, Param):
            out.append(f"${p.name}")
        elif isinstance(p, CmdSub):
            out.append(f"$({p.text})")
        else:
            out.append("$((...))")
    return "".join(out)


def _is_assignment(word: RawWord) -> bool:
    return _split_assignment(word) is not None


def _split_assignment(word: RawWord) -> tuple[str, str | None, bool, RawWord | tuple[RawWord, ...]] | None:
    """(name, index, append, value) for `name[index]+=value` / `name=(items)`; None otherwise."""
    parts = word.parts
    if not parts:
        return None
    first = parts[0]
    if isinstance(first, ArrayLit):
        return (first.name, None, first.append, first.items) if first.name else None
    if not isinstance(first, Lit) or first.quoted:
        return None
    m = _ASSIGN.match(first.text)
    if not m:
        return None
    rest = first.text[m.end() :]
    value = RawWord(((Lit(rest),) if rest else ()) + tuple(parts[1:]), word.line)
    return m.group(1), m.group(2), bool(m.group(3)), value
