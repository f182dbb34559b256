"""Find training launches among a script's commands and parse their arguments as argparse would.

A launch is a command with a Python or accelerate launcher word before the first word ending in
`.py`; the words between `accelerate launch` (or `python -m accelerate.commands.launch`) and the
script are accelerate's own options, kept apart from the trainer's. The script's basename names
the trainer family. Argument vocabularies (known names for prefix abbreviations, store_true flags,
nargs='*' lists) are passed in by the caller, since the parameter registry owns them.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import PureWindowsPath

from rundiff.ingest.shell import Command, Word
from rundiff.ingest.shell_words import cond_of

#: Misspelled argument names sd-scripts still accepts, and the name they stand for.
LEGACY_ARGS = {"caption_extention": "caption_extension"}
#: accelerate launch options that take no value.
ACCELERATE_FLAGS = frozenset(
    {
        "multi_gpu",
        "cpu",
        "quiet",
        "q",
        "tpu",
        "use_deepspeed",
        "use_fsdp",
        "use_megatron_lm",
        "use_xpu",
        "debug",
        "no_python",
        "module",
        "m",
        "same_network",
        "rdzv_conf",
        "enable_cpu_affinity",
        "downcast_bf16",
    }
)

#: training script basename -> (model family, training type).
TRAINERS: dict[str, tuple[str, str]] = {
    "train_network.py": ("sd1", "lora"),
    "sdxl_train_network.py": ("sdxl", "lora"),
    "sd3_train_network.py": ("sd3", "lora"),
    "flux_train_network.py": ("flux", "lora"),
    "lumina_train_network.py": ("lumina", "lora"),
    "anima_train_network.py": ("anima", "lora"),
    "hunyuan_image_train_network.py": ("hunyuan_image", "lora"),
    "train_db.py": ("sd1", "full"),
    "fine_tune.py": ("sd1", "full"),
    "sdxl_train.py": ("sdxl", "full"),
    "sd3_train.py": ("sd3", "full"),
    "flux_train.py": ("flux", "full"),
    "lumina_train.py": ("lumina", "full"),
    "train_textual_inversion.py": ("sd1", "textual_inversion"),
    "train_textual_inversion_XTI.py": ("sd1", "textual_inversion"),
    "sdxl_train_textual_inversion.py": ("sdxl", "textual_inversion"),
    "train_controlnet.py": ("sd1", "controlnet"),
    "sdxl_train_control_net.py": ("sdxl", "controlnet"),
    "sdxl_train_control_net_lllite.py": ("sdxl", "controlnet_lllite"),
    "flux_train_control_net.py": ("flux", "controlnet"),
}

_PYTHON = re.compile(r"^(python(\d+(\.\d+)?)?|py|pythonw)(\.exe)?$", re.IGNORECASE)
_ACCELERATE = re.compile(r"^(accelerate|accelerate-launch|torchrun)(\.exe)?$", re.IGNORECASE)
_NUMBER = re.compile(r"^-\d|^-\.\d")


@dataclass(frozen=True)
class Arg:
    """One argument as argparse would see it; `name` is resolved, `written` as in the file."""

    name: str
    value: str | bool | list[str]
    line: int
    written: str
    note: str | None = None
    #: Why the value is not known for sure (an undecidable `if`, a value built from a command that is
    #: never run); the argument then stands as unknown, with this reason.
    cond: str | None = None


@dataclass
class Launch:
    script: str  # basename, e.g. "sdxl_train_network.py"
    script_path: str  # as written, e.g. "./sd-scripts/sdxl_train_network.py"
    line: int  # line of the command's first word
    launcher: str  # "accelerate" or "python"
    launcher_args: list[Arg] = field(default_factory=list)
    trainer_args: list[Arg] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # "line N: ..." without the file name
    unresolved: list[tuple[str, int]] = field(default_factory=list)

    @property
    def family(self) -> str | None:
        family = TRAINERS.get(self.script, (None, None))[0]
        if family == "sd1" and any(a.name == "v2" and a.value is True for a in self.trainer_args):
            return "sd2"
        return family

    @property
    def training_type(self) -> str | None:
        known = TRAINERS.get(self.script)
        if known:
            return known[1]
        return "lora" if self.script.endswith("_network.py") else None

    def last_values(self) -> dict[str, Arg]:
        """The argument that takes effect for each name (argparse: the last one given)."""
        return {a.name: a for a in self.trainer_args}


@cache
def registry_list_args() -> frozenset[str]:
    """The nargs='*' spellings (they swallow every following non-option word): the registry's kind `list`."""
    from rundiff.normalise.registry import load_registry

    return frozenset(load_registry().list_names())


def basename(path: str) -> str:
    return PureWindowsPath(path).name  # splits on both / and \


def find_launch(
    command: Command,
    *,
    known_args: Collection[str] = (),
    flag_args: Collection[str] = (),
    list_args: Collection[str] | None = None,
) -> Launch | None:
    """The training launch in `command`, or None when it is not one (``list_args`` None: the registry's)."""
    words = command.words
    pos, script = _script_word(words)
    if pos is None or script is None:
        return None
    if script not in TRAINERS and "train" not in script.lower():
        return None  # a tool (captioning, merging, resizing), not a training run
    head = [basename(w.text) for w in words[:pos]]
    start = next((i for i, h in enumerate(head) if _PYTHON.match(h) or _ACCELERATE.match(h)), None)
    unknown_launcher = start is None and all(not h.strip() or h.startswith("-") for h in head)
    if start is None and not unknown_launcher:
        return None
    launcher = "python"
    opts_from = None
    if start is not None and _ACCELERATE.match(head[start]):
        launcher = "accelerate"
        opts_from = start + 2 if start + 1 < pos and head[start + 1] == "launch" else start + 1
    elif start is not None:
        for i in range(start + 1, pos - 1):
            if head[i] == "-m" and head[i + 1].startswith("accelerate"):
                launcher, opts_from = "accelerate", i + 2
                break
    vocabulary = _script_vocabulary(script)
    if vocabulary is not None:  # a script with its own argument names (diffusers examples, ...)
        known_args, flag_args, list_args = (vocabulary["known_args"], vocabulary["flag_args"], vocabulary["list_args"])
    launch = Launch(script, words[pos].text, command.line, launcher, unresolved=list(command.unresolved))
    if unknown_launcher:
        what = ", ".join(f"${v}" if not v.startswith("$") else v for v, _ in command.unresolved[:2]) or "nothing"
        launch.warnings.append(
            f"line {command.line}: the program that runs {script} is not known (it expands "
            f"from {what}); read as a Python launch"
        )
    if opts_from is not None:
        launch.launcher_args = _parse(words[opts_from:pos], ACCELERATE_FLAGS, (), (), launch, "accelerate")
    lists = registry_list_args() if list_args is None else list_args
    launch.trainer_args = _parse(words[pos + 1 :], flag_args, lists, known_args, launch, script)
    return launch


def _script_word(words: Sequence[Word]) -> tuple[int | None, str | None]:
    """Index and basename of the training script: the first `*.py` word, else `-m package.module`."""
    pos = next((i for i, w in enumerate(words) if w.text.lower().endswith(".py") and w.text[:1] != "-"), None)
    if pos is not None:
        return pos, basename(words[pos].text)
    for i, w in enumerate(words[:-1]):
        module = words[i + 1].text
        if w.text in ("-m", "--module") and not module.startswith(("accelerate", "torch.")) and module[:1] != "-":
            return i + 1, module.rsplit(".", 1)[-1] + ".py"
    return None, None


def parse_arguments(
    words: Sequence[Word],
    launch: Launch,
    owner: str,
    *,
    known_args: Collection[str] = (),
    flag_args: Collection[str] = (),
    list_args: Collection[str] | None = None,
) -> list[Arg]:
    """Arguments as argparse reads them (abbreviations, flags, nargs lists); problems go to launch.warnings."""
    lists = registry_list_args() if list_args is None else list_args
    return _parse(words, flag_args, lists, known_args, launch, owner)


def _script_vocabulary(script: str) -> dict[str, frozenset[str]] | None:
    """The script's own argument vocabulary from its trainer profile, None for sd-scripts' names."""
    from rundiff.ingest.profiled import script_vocabulary

    return script_vocabulary(script)


def parse_script_args(script: str, args: Sequence[str], *, line: int | None = None) -> Launch | None:
    """A launch from a script name and its argument list as saved (W&B `program` + `args`)."""
    words = [Word(text, line or 1) for text in args]
    vocabulary = _script_vocabulary(script)
    if vocabulary is None:
        from rundiff.ingest.run_folder import _argument_vocabulary

        vocabulary = _argument_vocabulary()
    launch = Launch(script, script, line or 1, "python")
    launch.trainer_args = _parse(
        words, vocabulary["flag_args"], vocabulary["list_args"], vocabulary["known_args"], launch, script
    )
    return launch


def _parse(
    words: Sequence[Word],
    flags: Collection[str],
    lists: Collection[str],
    known: Collection[str],
    launch: Launch,
    owner: str,
) -> list[Arg]:
    args: list[Arg] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not _is_option(word.text):
            launch.warnings.append(f"line {word.line}: stray word {word.text!r} ignored (not an option of {owner})")
            continue
        written, eq, value = word.text.lstrip("-").partition("=")
        name, note = _resolve(written, known, launch, word.line)
        cond = cond_of(word.text)
        if name in lists:
            items = [value] if eq else []
            while not eq and i < len(words) and not _is_option(words[i].text):
                items.append(words[i].text)
                cond = cond or cond_of(words[i].text)
                i += 1
            args.append(Arg(name, items, word.line, word.text, note, cond))
        elif name in flags:
            if eq:
                launch.warnings.append(f"line {word.line}: flag --{name} given a value {value!r}; it takes none")
            args.append(Arg(name, True, word.line, word.text, note, cond))
        elif eq:
            args.append(Arg(name, value, word.line, word.text, note, cond))
        elif i < len(words) and not _is_option(words[i].text):
            args.append(Arg(name, words[i].text, word.line, word.text, note, cond or cond_of(words[i].text)))
            i += 1
        else:
            args.append(Arg(name, True, word.line, word.text, note, cond))
    return args


def _is_option(text: str) -> bool:
    return text.startswith("-") and len(text) > 1 and not _NUMBER.match(text)


@cache
def _sorted_names(known: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted({*known, *LEGACY_ARGS}))


def _with_prefix(prefix: str, names: tuple[str, ...]) -> set[str]:
    """The names starting with `prefix`, by binary search (an argument list can be long)."""
    start = bisect_left(names, prefix)
    out = set()
    for name in names[start:]:
        if not name.startswith(prefix):
            break
        out.add(name)
    return out


def _resolve(written: str, known: Collection[str], launch: Launch, line: int) -> tuple[str, str | None]:
    """argparse's allow_abbrev: an exact name, else a unique prefix of a known name."""
    if written in LEGACY_ARGS:
        return LEGACY_ARGS[written], f"written as the legacy --{written}"
    if not known or written in known:
        return written, None
    candidates = _with_prefix(written, _sorted_names(frozenset(known)))
    targets = {LEGACY_ARGS.get(n, n) for n in candidates}
    if len(targets) == 1:
        full = targets.pop()
        return full, f"abbreviated as --{written}"
    if targets:
        names = ", ".join(f"--{n}" for n in sorted(targets))
        launch.warnings.append(f"line {line}: --{written} is ambiguous ({names}); kept as written")
    else:
        launch.warnings.append(f"line {line}: --{written} is not a known argument; kept as written")
    return written, None
