"""What ablate lets through to a trainer: its environment and its command line.

A base run is often a folder someone else made. Nothing in it may decide what runs:

- the trainer's environment is built from `ENV_ALLOW` (names and prefixes) taken from *your*
  environment, plus the few variables rundiff sets itself; variable assignments found in the base
  run's scripts (`LD_PRELOAD=... accelerate launch ...`, `export PYTHONPATH=...`) are shown in the plan
  and the report and never applied;
- every value becomes exactly one argument: a value that would parse as an option (it starts with `-`
  and is not a number) or holds a newline, NUL or another control character is refused, whether it
  came from `--values`, a `--like` run or the base run itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from rundiff.errors import RundiffError

#: Variables of the user's own environment a trainer may see (exact names).
ENV_ALLOW = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "TEMP",
        "TMP",
        "TERM",
        "SYSTEMROOT",
        "SYSTEMDRIVE",
        "WINDIR",
        "COMSPEC",
        "PATHEXT",
        "USERPROFILE",
        "APPDATA",
        "LOCALAPPDATA",
        "PROGRAMDATA",
        "PROGRAMFILES",
        "NUMBER_OF_PROCESSORS",
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "CONDA_DEFAULT_ENV",
        "CUDA_VISIBLE_DEVICES",
        "CUDA_DEVICE_ORDER",
        "CUDA_HOME",
        "CUDA_PATH",
        "HIP_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES",
        "PYTORCH_CUDA_ALLOC_CONF",
        "NCCL_DEBUG",
        "NCCL_P2P_DISABLE",
        "NCCL_IB_DISABLE",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "TOKENIZERS_PARALLELISM",
        "HF_HOME",
        "HF_HUB_CACHE",
        "HF_HUB_OFFLINE",
        "HF_DATASETS_OFFLINE",
        "HUGGINGFACE_HUB_CACHE",
        "TRANSFORMERS_CACHE",
        "TRANSFORMERS_OFFLINE",
        "TORCH_HOME",
        "XDG_CACHE_HOME",
        "TF_CPP_MIN_LOG_LEVEL",
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    }
)
#: Prefixes of allowed names (locale settings, accelerate's own configuration).
ENV_ALLOW_PREFIXES = ("LC_", "ACCELERATE_")
#: Never passed, even when listed with --pass-env: they make a process load code it was not asked to.
ENV_NEVER = frozenset(
    {
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "LD_AUDIT",
        "DYLD_INSERT_LIBRARIES",
        "BASH_ENV",
        "ENV",
        "PYTHONSTARTUP",
        "PYTHONHOME",
        "PYTHONINSPECT",
        "PROMPT_COMMAND",
        "PERL5OPT",
        "NODE_OPTIONS",
    }
)

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_NUMBER = re.compile(r"^-(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")


def trainer_env(
    added: Mapping[str, str], *, passed: Iterable[str] = (), environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The trainer's whole environment: allowed names from ``environ``, then rundiff's own ``added``.

    ``passed`` names more variables of the user's environment to hand over (`--pass-env`); names in
    `ENV_NEVER` are refused there.
    """
    environ = os.environ if environ is None else environ
    extra = set(passed)
    refused = sorted(extra & ENV_NEVER)
    if refused:
        raise RundiffError(f"--pass-env {refused[0]}: never passed to a trainer (it makes a process load code)")
    env = {
        k: v
        for k, v in environ.items()
        if (k in ENV_ALLOW or k.startswith(ENV_ALLOW_PREFIXES) or k in extra) and k not in ENV_NEVER
    }
    env.update(added)
    return env


def unsafe_reason(text: str, *, separate_word: bool = True) -> str | None:
    """Why ``text`` cannot be one trainer argument, or None.

    ``separate_word``: the value is its own argv word (a list element, `--flag value`), so a leading `-`
    would make the trainer's parser read it as an option; in `--name=value` it cannot.
    """
    bad = _CONTROL.search(text)
    if bad:
        names = {"\x00": "a NUL byte", "\n": "a newline", "\r": "a carriage return"}
        what = names.get(bad.group(), "a control character")
        return f"holds {what}"
    if separate_word and text.startswith("-") and not _NUMBER.match(text):
        return "starts with '-', so the trainer would read it as an option"
    return None


def check_value(name: str, value: Any, source: str) -> None:
    """Refuse a value for ``name`` (from ``source``) that could not be passed as exactly one argument.

    A list's elements are each their own argument; a scalar may end up as one too (`--name value`).
    """
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        if isinstance(item, list | tuple):
            check_value(name, item, source)
            continue
        if not isinstance(item, str):
            continue
        why = unsafe_reason(item)
        if why:
            raise RundiffError(
                f"{name} value {shown(item)} from {source} {why}; refused (every value must be exactly one argument)",
                key=name,
            )


def check_argv(argv: Iterable[str], source: str) -> None:
    """Every word of a command about to run: no control characters, and no option smuggled in a value."""
    for word in argv:
        why = unsafe_reason(word, separate_word=False)
        if why:
            raise RundiffError(f"the command for {source} has an argument that {why}: {shown(word)}; refused")


def shown(text: str, limit: int = 80) -> str:
    """``text`` safe to print: control characters as escapes, long text cut."""
    out = _CONTROL.sub(lambda m: repr(m.group())[1:-1], text.replace("\x1b", "\\x1b"))
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in out)
    return repr(out[:limit] + ("..." if len(out) > limit else ""))


def plain(text: str) -> str:
    """``text`` for a comment line or a header: one line, escapes and control characters gone
    (:mod:`rundiff.plaintext`, the rule of every report)."""
    from rundiff.plaintext import plain_text

    return plain_text(text)
