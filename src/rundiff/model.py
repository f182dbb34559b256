"""The data model every stage shares: facts from files, cells with provenance, runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class Provenance(StrEnum):
    """Where a cell's value came from, strongest evidence first."""

    EXPLICIT = "explicit"  # written by the user in a script/config (file:line)
    METADATA = "metadata"  # ss_* / modelspec.* keys of a weights file
    WEIGHTS = "weights"  # proven by tensor names/shapes/values of a weights file
    INFERRED = "inferred"  # guessed from indirect evidence (the note says how)
    DERIVED = "derived"  # computed from other cells of the same run
    DEFAULT = "default"  # the trainer's default; only when the trainer is known
    UNKNOWN = "unknown"


#: Provenances that count as "the run set this value" when comparing against a baseline.
SET_PROVENANCES = frozenset(
    {Provenance.EXPLICIT, Provenance.METADATA, Provenance.WEIGHTS, Provenance.INFERRED, Provenance.DERIVED}
)


class SourceKind(StrEnum):
    """The vocabulary a fact's key is written in; the registry maps each to canonical names."""

    CLI = "cli"  # sd-scripts argument names (launch scripts, Markdown commands)
    CONFIG_TOML = "config_toml"  # sd-scripts --config_file (argument dest names)
    DATASET_TOML = "dataset_toml"  # sd-scripts --dataset_config
    GUI = "gui"  # bmaltais/kohya_ss saved JSON
    TRAINER_CONFIG = "trainer_config"  # YAML/JSON of other trainers, flattened to dotted keys
    METADATA = "metadata"  # ss_* / modelspec.* of a .safetensors
    WEIGHTS = "weights"  # facts proven by a weights file (canonical names)
    DATASET_FOLDER = "dataset_folder"  # <repeats>_<name> folders (canonical names)
    LAUNCHER = "launcher"  # accelerate launch's own options (kept apart from the trainer's)
    PROFILE = "profile"  # canonical names already, from a trainer profile (normalise/profiles/)
    RAW = "raw"  # a trainer's own key that no profile field reads: shown under its own name
    LOG = "log"  # what a training log reveals (canonical names, provenance inferred)


@dataclass(frozen=True)
class Fact:
    """One key = value read from one place of one file, before normalisation."""

    key: str
    value: Any
    kind: SourceKind
    path: str
    line: int | None = None
    provenance: Provenance = Provenance.EXPLICIT
    note: str | None = None

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}" if self.line is not None else self.path


@dataclass
class SourceFile:
    """What one ingested file contributed to a run."""

    path: str
    format: str  # e.g. "kohya-script", "kohya-config-toml", "kohya-gui-json", "safetensors"
    trainer: str | None = None  # e.g. "sd-scripts", "kohya_ss", "ai-toolkit", None when unknown
    #: Why `trainer` was recognised: file names, distinctive keys, script names (shown in the JSON).
    evidence: list[str] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    references: list[Path] = field(default_factory=list)  # configs this file points at
    warnings: list[str] = field(default_factory=list)
    #: Launch chain id: sources in one chain obey the trainer's precedence (CLI > --config_file);
    #: sources in different chains are independent evidence, and disagreement is a conflict.
    chain: str | None = None
    #: Precedence inside the chain (higher wins), set by the ingest module.
    precedence: int = 0
    #: Image folders this source names, with the repeats it sets for each (None: from the folder name).
    datasets: list[tuple[Path, int | None]] = field(default_factory=list)
    #: Config files this source writes itself (heredocs in a script): path -> text.
    virtual_files: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Cell:
    """One parameter of one run, with where its value came from."""

    value: Any
    provenance: Provenance
    source: str | None = None  # "file:line", "file [key]", ...
    note: str | None = None  # how it was inferred/derived, or which default
    #: Other sources of the same run that say the same value ("metadata: file [ss_network_dim]").
    confirmed_by: tuple[str, ...] = ()

    @property
    def known(self) -> bool:
        return self.provenance is not Provenance.UNKNOWN


UNKNOWN = Cell(None, Provenance.UNKNOWN)


@dataclass(frozen=True)
class Conflict:
    """Two sources of one run disagree on a parameter; both values are kept."""

    run: str
    name: str
    values: tuple[tuple[Any, str, str], ...]  # (value, provenance, source) for each disagreeing source
    chosen: Any = None


@dataclass(frozen=True)
class Skipped:
    """A file (or folder) of a run folder that is not a source of the run, and why.

    Nothing in a run folder is passed over silently: every file is a source or one of these.
    """

    path: str
    reason: str


@dataclass
class Run:
    """A training run: its files, and the normalised parameters they prove."""

    name: str
    path: str
    sources: list[SourceFile] = field(default_factory=list)
    cells: dict[str, Cell] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    trainer: str | None = None
    outcome: str | None = None  # "good" | "bad" | None
    log_files: list[str] = field(default_factory=list)
    #: Files and folders of the run folder that are not sources, each with its reason.
    skipped: list[Skipped] = field(default_factory=list)
    #: What identified `trainer` ("config.yaml: top keys job/config.process (ai-toolkit)", ...).
    trainer_evidence: list[str] = field(default_factory=list)
    #: Everything the run's logs hold (series of points), read once at ingest; None when not read.
    logs: Any = None
    #: Files of this run that failed to parse (see `failed_settings`).
    failed_files: list[str] = field(default_factory=list)
    #: Save series of the run (ingest.checkpoints.Checkpoint lists, in save order).
    checkpoints: list[Any] = field(default_factory=list)

    @property
    def failed_settings(self) -> list[str]:
        """The failed files that could have set training values: every kind but weights files (an
        unreadable .safetensors, such as an empty base model beside the script, sets none)."""
        return settings_files(self.failed_files)

    def get(self, name: str) -> Cell:
        return self.cells.get(name, UNKNOWN)

    def value(self, name: str, default: Any = None) -> Any:
        cell = self.cells.get(name)
        return default if cell is None or not cell.known else cell.value


def settings_files(paths: list[str]) -> list[str]:
    """``paths`` less weights files, each once (see Run.failed_settings)."""
    return list(dict.fromkeys(p for p in paths if not p.lower().endswith(".safetensors")))
