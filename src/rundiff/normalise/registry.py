"""Load the parameter registry (registry.yaml) into plain lookups.

The registry is data: names, aliases per source kind, types, defaults, categories, impact and the
rationale all live in the YAML; this module only indexes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

import yaml

_MISSING = object()
#: Source kinds whose keys may be canonical names as they are.
_SELF_NAMING = frozenset(
    {
        "log",
        "cli",
        "config_toml",
        "gui",
        "dataset_toml",
        "trainer_config",
        "profile",
        "network_args",
        "optimizer_args",
        "lr_scheduler_args",
    }
)


#: Argument kinds: how a command line writes a parameter (argparse: store_true / one value / nargs='*').
ARG_KINDS = ("flag", "value", "list")
#: Training scripts the sd-scripts argument facts describe; `scripts:` in an entry narrows them.
SD_SCRIPTS_LORA_SCRIPTS = ("train_network.py", "sdxl_train_network.py")
#: The argparse ``type=`` of an sd-scripts argument when the entry does not name one, by registry type.
_ARGPARSE_TYPE = {
    "int": "int",
    "float": "float",
    "number": "int_or_float",
    "str": "str",
    "path": "str",
    "resolution": "str",
    "kv_list": "str",
    "str_list": "str",
    "float_list": "float",
    "int_list": "int",
    "bool": None,
}


@dataclass(frozen=True)
class SdScriptsArg:
    """An sd-scripts command-line argument, as its argparse parser declares it.

    Only what differs from the registry entry is written in the YAML: the argparse type follows from
    the entry's type, the default is the entry's default, a flag defaults to False.
    """

    kind: str  # flag | value | list
    type: str | None  # argparse type name: int, float, str, int_or_float, Path; None for flags
    default: Any
    choices: tuple[Any, ...] | None = None
    scripts: tuple[str, ...] = SD_SCRIPTS_LORA_SCRIPTS

    def table_row(self) -> tuple[Any, ...]:
        """(kind, type, default[, choices]): the row ablate's backend and its stand-in build argparse from."""
        row: tuple[Any, ...] = (self.kind, self.type, self.default)
        return (*row, self.choices) if self.choices is not None else row


@dataclass(frozen=True)
class Alias:
    """One way a source kind spells a parameter."""

    key: str
    scale: float | None = None  # multiply numeric values (GUI percent -> ratio)
    value: Any = _MISSING  # a flag alias that sets this value when true
    sd_scripts: Any = None  # a legacy spelling sd-scripts still declares: True or overrides (raw YAML)

    @property
    def sets_value(self) -> bool:
        return self.value is not _MISSING


@dataclass(frozen=True)
class Override:
    """Another setting that, when set, takes this parameter's place (registry: ``overridden_by``)."""

    params: tuple[str, ...]  # shadowed when every one of these is set in the run
    why: str
    effective: str = ""  # what to vary instead


@dataclass(frozen=True)
class Parameter:
    name: str
    category: str
    impact: str
    type: str
    rationale: str = ""
    default: Any = _MISSING
    none_means: Any = None
    choices: tuple[str, ...] = ()
    expand: str | None = None
    derived: bool = False
    ladder: tuple[Any, ...] = ()
    secret: bool = False
    aliases: dict[str, tuple[Alias, ...]] = field(default_factory=dict)
    overridden_by: tuple[Override, ...] = ()
    kind: str | None = None  # flag | value | list: how a command line writes it (None: derived rows)
    range: tuple[float | None, float | None] | None = None  # sensible values, either end open
    sd_scripts: SdScriptsArg | None = None  # set when sd-scripts' LoRA scripts declare this argument
    #: Conditions on the run's other parameters for this one to take effect ({name: "set" | [values]}).
    active_when: dict[str, Any] = field(default_factory=dict)
    #: A per-run identifier (seed, output name, output path): runs differ in it by design.
    replicate: bool = False

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING


@dataclass(frozen=True)
class Registry:
    categories: dict[str, str]  # key -> display name, in display order
    impacts: dict[str, int]  # level -> weight
    parameters: dict[str, Parameter]
    metadata_ignore: frozenset[str]
    # (kind, key) -> (parameter name, alias)
    _index: dict[tuple[str, str], tuple[str, Alias]]
    #: Key names (last dotted segment) of unmapped keys whose values are credentials, never shown.
    credential_keys: frozenset[str] = frozenset()
    credential_suffixes: tuple[str, ...] = ()

    def is_credential(self, key: str) -> bool:
        last = key.rsplit(".", 1)[-1].lower().replace("-", "_")
        return last in self.credential_keys or last.endswith(self.credential_suffixes)

    def get(self, name: str) -> Parameter | None:
        return self.parameters.get(name)

    def lookup(self, kind: str, key: str) -> tuple[Parameter, Alias] | None:
        """Map a key written in one source kind's vocabulary to its parameter.

        Vocabularies that use sd-scripts' argument names (and other trainers' dotted keys, by their
        last segment) also accept a canonical name as itself.
        """
        if kind == "trainer_config":
            hit = self._match_dotted(key)
        else:
            hit = self._index.get((kind, key))
            if hit is None and kind == "config_toml":
                hit = self._index.get(("cli", key))
        if hit is None and kind in _SELF_NAMING:
            canonical = key.rsplit(".", 1)[-1] if kind == "trainer_config" else key
            param = self.parameters.get(canonical)
            if param is not None and not param.derived:
                return param, Alias(canonical)
        if hit is None:
            return None
        name, alias = hit
        return self.parameters[name], alias

    def _match_dotted(self, key: str) -> tuple[str, Alias] | None:
        """Longest match first: the whole dotted key, then its last two segments, then the last one.

        List indices (`process.0.network`) are skipped, so `datasets.0.caption_ext` matches the
        pattern `datasets.caption_ext`.
        """
        for parts in (key.split("."), [p for p in key.split(".") if not p.isdigit()]):
            for n in (len(parts), 2, 1):
                if 0 < n <= len(parts):
                    hit = self._index.get(("trainer_config", ".".join(parts[-n:])))
                    if hit is not None:
                        return hit
        return None

    def cli_names(self) -> list[str]:
        """Every spelling the sd-scripts command line accepts (for argparse prefix matching)."""
        names = {p.name for p in self.parameters.values() if not p.derived}
        names |= {key for kind, key in self._index if kind == "cli"}
        return sorted(names)

    def flag_names(self) -> list[str]:
        """Command-line spellings that are store_true flags (they never take a value)."""
        return self._cli_spellings("flag")

    def list_names(self) -> list[str]:
        """Command-line spellings declared nargs='*': they take every following word that is not an option."""
        return self._cli_spellings("list")

    def _cli_spellings(self, kind: str) -> list[str]:
        names = {p.name for p in self.parameters.values() if p.kind == kind and not p.derived}
        for p in self.parameters.values():
            for alias in p.aliases.get("cli", ()):
                if ("flag" if alias.sets_value else p.kind) == kind:
                    names.add(alias.key)
        return sorted(names)

    def sd_scripts_arguments(self, script: str) -> dict[str, SdScriptsArg]:
        """sd-scripts' command line for ``script`` (basename), legacy spellings included; train_network.py's
        for a LoRA script the registry has no facts of."""
        if script not in SD_SCRIPTS_LORA_SCRIPTS:
            script = SD_SCRIPTS_LORA_SCRIPTS[0]
        table: dict[str, SdScriptsArg] = {}
        for p in self.parameters.values():
            if p.sd_scripts is not None and script in p.sd_scripts.scripts:
                table[p.name] = p.sd_scripts
            for alias in p.aliases.get("cli", ()):
                if alias.sd_scripts is not None:
                    kind = "flag" if alias.sets_value else p.kind
                    arg = _sd_scripts_arg(alias.sd_scripts, p, kind)
                    if script in arg.scripts:
                        table[alias.key] = arg
        return table

    def category_rank(self, category: str) -> int:
        keys = list(self.categories)
        return keys.index(category) if category in keys else len(keys)


def _parse_alias(raw: Any) -> Alias:
    if isinstance(raw, str):
        return Alias(raw)
    if isinstance(raw, dict) and "key" in raw:
        return Alias(
            str(raw["key"]), scale=raw.get("scale"), value=raw.get("value", _MISSING), sd_scripts=raw.get("sd_scripts")
        )
    raise ValueError(f"bad alias {raw!r}")


def _sd_scripts_arg(raw: Any, param: Parameter, kind: str | None) -> SdScriptsArg:
    """The argparse facts of an argument: the entry's own, overridden by what ``sd_scripts:`` says."""
    spec = raw if isinstance(raw, dict) else {}
    if kind not in ARG_KINDS:
        raise ValueError(f"{param.name}: sd_scripts needs kind flag, value or list, got {kind!r}")
    if kind == "flag":
        return SdScriptsArg("flag", None, False, scripts=tuple(spec.get("scripts") or SD_SCRIPTS_LORA_SCRIPTS))
    default = param.default if param.has_default else None
    choices = spec.get("choices")
    return SdScriptsArg(
        kind,
        spec.get("type", _ARGPARSE_TYPE[param.type]),
        spec.get("default", default),
        tuple(choices) if choices is not None else None,
        tuple(spec.get("scripts") or SD_SCRIPTS_LORA_SCRIPTS),
    )


def _parse_range(raw: Any) -> tuple[float | None, float | None] | None:
    if raw is None:
        return None
    low, high = raw
    return low, high


def build_registry(data: dict[str, Any]) -> Registry:
    categories = dict(data["categories"])
    impacts = dict(data["impacts"])
    params: dict[str, Parameter] = {}
    index: dict[tuple[str, str], tuple[str, Alias]] = {}
    for name, spec in data["parameters"].items():
        aliases = {
            kind: tuple(_parse_alias(a) for a in (keys or [])) for kind, keys in (spec.get("aliases") or {}).items()
        }
        param = Parameter(
            name=name,
            category=spec["category"],
            impact=spec["impact"],
            type=spec["type"],
            rationale=spec.get("rationale", ""),
            default=spec.get("default", _MISSING),
            none_means=spec.get("none_means"),
            choices=tuple(spec.get("choices") or ()),
            expand=spec.get("expand"),
            derived=bool(spec.get("derived", False)),
            ladder=tuple(spec.get("ladder") or ()),
            secret=bool(spec.get("secret", False)),
            aliases=aliases,
            overridden_by=tuple(
                Override(tuple(o["params"]), o["why"], o.get("effective", "")) for o in spec.get("overridden_by") or ()
            ),
            kind=spec.get("kind"),
            range=_parse_range(spec.get("range")),
            active_when=dict(spec.get("active_when") or {}),
            replicate=bool(spec.get("replicate", False)),
        )
        if spec.get("sd_scripts") is not None:
            param = replace(param, sd_scripts=_sd_scripts_arg(spec["sd_scripts"], param, param.kind))
        params[name] = param
        for kind, alias_list in aliases.items():
            for alias in alias_list:
                index.setdefault((kind, alias.key), (name, alias))
    credentials = data.get("credential_keys") or {}
    return Registry(
        categories,
        impacts,
        params,
        frozenset(data.get("metadata_ignore") or ()),
        index,
        credential_keys=frozenset(credentials.get("names") or ()),
        credential_suffixes=tuple(credentials.get("suffixes") or ()),
    )


@cache
def load_registry() -> Registry:
    """The registry shipped inside the package."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster, as safe
    text = resources.files("rundiff.normalise").joinpath("registry.yaml").read_text(encoding="utf-8")
    data = yaml.load(text, Loader=loader)  # noqa: S506 (a safe loader)
    extra = resources.files("rundiff.normalise").joinpath("registry_diagnose.yaml")
    if extra.is_file():
        more = yaml.load(extra.read_text(encoding="utf-8"), Loader=loader) or {}  # noqa: S506
        for name, spec in (more.get("parameters") or {}).items():
            data["parameters"].setdefault(name, spec)
    return build_registry(data)
