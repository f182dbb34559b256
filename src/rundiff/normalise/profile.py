"""Trainer profiles: how each trainer names, defaults and interprets its settings, kept as data.

A profile (`normalise/profiles/<trainer>.yaml`) says which files and keys identify the trainer
(evidence), where its settings live inside a file (`root`), how its config eras are migrated to the
current one, and, field by field, which of its keys give a canonical (sd-scripts) parameter, with
enum spellings, the trainer's own default, and declarative rules (conditions, rewrites). This
module only loads those files and evaluates them; no trainer is special-cased in Python.

Field rule keys (all optional except the name):
    keys:       trainer key paths, first present (non-null) wins; `/x.y` is read from the top of the
                document instead of `root`; `{var}` is replaced by a profile variable
    flags:      [{key, value}]: when no key is present, the first true flag gives `value`
    any_true:   key paths: true when any is true (missing ones count as `default`)
    from_field: take the canonical value (and provenance) of an earlier field
    enum:       name of an `enums:` table: trainer spelling -> canonical (case-insensitive, globs)
    negate / add / scale / convert:  value transforms, in that order
    default:    the trainer's own default (in the trainer's spelling: transforms apply);
    default_field: the default is an earlier field's canonical value (alpha = rank)
    when / otherwise / otherwise_note: the field only holds under a condition; else `otherwise`
    rewrite:    [{if, set | set_field | divide_by_field (+ floor), note, provenance, from_key}]: rewrites
                of the canonical value (conditions may test `value`); the first that holds applies;
                `from_key` names the key that decided it (the value is then explicit, at its line)
    note:       shown with a value read from the file
Conditions: {key|field|value: ..., is|in|not_in|gt|ge|lt|le|present|truthy: ...}, {all: [...]},
{any: [...]}, {not: {...}}.
"""

from __future__ import annotations

import copy
import fnmatch
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from rundiff.model import Fact, Provenance, SourceKind
from rundiff.normalise.values import ValueProblem, to_float

_ABSENT = object()
#: Keys that mean nothing but the trainer's own bookkeeping in any profile.
MAX_ITEMS = 10_000


@dataclass(frozen=True)
class Evidence:
    """One way to recognise a trainer: a file name glob and/or keys, and the sentence shown."""

    says: str
    file: str | None = None
    path: str | None = None  # glob on the path (posix), e.g. "*/config/autosave/*.toml"
    keys_all: tuple[str, ...] = ()
    keys_any: tuple[str, ...] = ()
    key_prefix: str | None = None  # most top keys start with this ("--" for SimpleTuner)
    list_of_keys: tuple[str, ...] = ()  # a JSON list whose items hold one of these keys
    list_keys_all: tuple[str, ...] = ()  # ... and all of these
    weak: bool = False  # a file name alone: recognises only together with a key rule


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    sources: str
    vocabulary: str  # "fields" (this profile maps keys) or "sd-scripts" (the registry does)
    evidence: tuple[Evidence, ...]
    root: str | None
    strip_prefix: str | None
    ignore: tuple[str, ...]
    variables: dict[str, Any]
    fields: tuple[dict[str, Any], ...]
    datasets: dict[str, Any] | None
    enums: dict[str, dict[str, Any]]
    migrations: dict[str, Any] | None
    scripts: tuple[dict[str, Any], ...]
    args: dict[str, Any]
    defaults: dict[str, Any]  # sd-scripts vocabulary: overrides of the registry's defaults
    no_defaults: tuple[str, ...]
    default_note: str
    env: dict[str, Any]
    order: int = 50  # recognition order: wrappers (W&B) first, then specific trainers, generic last
    part_of: str | None = None  # the trainer a secondary file belongs to (a dataset file's profile)
    document: dict[str, Any] = field(default_factory=dict)  # how the trainer reads a file's keys
    references: tuple[str, ...] = ()  # fields naming other files of the run (dataset configs)
    precedence: int | None = None  # inside the launch chain that references it (higher wins)

    @property
    def trainer(self) -> str:
        return self.part_of or self.name

    def field_names(self) -> list[str]:
        return [f["name"] for f in self.fields]


@cache
def load_profiles() -> dict[str, Profile]:
    """Every profile shipped in `rundiff/normalise/profiles/`, by trainer name, in file order."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    folder = resources.files("rundiff.normalise").joinpath("profiles")
    found: dict[str, Profile] = {}
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".yaml"):
            continue
        data = yaml.load(entry.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 (a safe loader)
        profile = build_profile(data)
        found[profile.name] = profile
    return dict(sorted(found.items(), key=lambda kv: (kv[1].order, kv[0])))


def build_profile(data: dict[str, Any]) -> Profile:
    evidence = tuple(
        Evidence(
            says=e["says"],
            file=e.get("file"),
            path=e.get("path"),
            keys_all=tuple(e.get("keys_all") or ()),
            keys_any=tuple(e.get("keys_any") or ()),
            key_prefix=e.get("key_prefix"),
            list_of_keys=tuple(e.get("list_of_keys") or ()),
            list_keys_all=tuple(e.get("list_keys_all") or ()),
            weak=bool(e.get("weak", False)),
        )
        for e in data.get("evidence") or ()
    )
    fields = []
    for name, spec in (data.get("fields") or {}).items():
        spec = dict(spec or {})
        spec["name"] = name
        fields.append(spec)
    datasets = data.get("datasets")
    if datasets:
        datasets = dict(datasets)
        datasets["fields"] = tuple(
            {**(spec or {}), "name": name} for name, spec in (datasets.get("fields") or {}).items()
        )
    return Profile(
        name=data["trainer"],
        title=data.get("title", data["trainer"]),
        sources=data.get("sources", ""),
        vocabulary=data.get("vocabulary", "fields"),
        evidence=evidence,
        root=data.get("root"),
        strip_prefix=data.get("strip_prefix"),
        ignore=tuple(data.get("ignore") or ()),
        variables=dict(data.get("variables") or {}),
        fields=tuple(fields),
        datasets=datasets,
        enums={k: dict(v) for k, v in (data.get("enums") or {}).items()},
        migrations=data.get("migrations"),
        scripts=tuple(data.get("scripts") or ()),
        args=dict(data.get("args") or {}),
        defaults=dict(data.get("defaults") or {}),
        no_defaults=tuple(data.get("no_defaults") or ()),
        default_note=data.get("default_note") or f"{data.get('title', data['trainer'])} default",
        env=dict(data.get("env") or {}),
        order=int(data.get("order", 50)),
        part_of=data.get("part_of"),
        document=dict(data.get("document") or {}),
        precedence=data.get("precedence"),
        references=tuple(data.get("references") or ()),
    )


# ----------------------------------------------------------------------------- recognition


def recognise(
    data: Any, path: str | None = None, *, only: Iterable[str] | None = None
) -> tuple[Profile | None, list[str]]:
    """The profile whose evidence this document shows, and the evidence sentences (first match wins)."""
    profiles = load_profiles()
    names = list(only) if only is not None else list(profiles)
    for name in names:
        profile = profiles[name]
        strong, weak = [], []
        for ev in profile.evidence:
            if _evidence_holds(ev, data, path):
                (weak if ev.weak else strong).append(ev.says)
        if strong:
            return profile, strong + weak
    return None, []


def _evidence_holds(ev: Evidence, data: Any, path: str | None) -> bool:
    posix = (path or "").replace("\\", "/")
    if ev.file is not None and not fnmatch.fnmatch(posix.rsplit("/", 1)[-1], ev.file):
        return False
    if ev.path is not None and not fnmatch.fnmatch(posix, ev.path):
        return False
    if ev.list_of_keys:
        if not isinstance(data, list) or not data:
            return False
        items = [x for x in data if isinstance(x, dict)]
        return bool(items) and all(
            any(k in item for k in ev.list_of_keys) and all(k in item for k in ev.list_keys_all) for item in items
        )
    if ev.keys_all or ev.keys_any or ev.key_prefix:
        if not isinstance(data, dict):
            return False
        if any(get_path(data, k) is _ABSENT for k in ev.keys_all):
            return False
        if ev.keys_any and all(get_path(data, k) is _ABSENT for k in ev.keys_any):
            return False
        if ev.key_prefix:
            keys = [str(k) for k in data]
            if not keys or sum(k.startswith(ev.key_prefix) for k in keys) * 2 < len(keys):
                return False
        return True
    return ev.file is not None or ev.path is not None


def profile_for_script(script: str) -> tuple[Profile, dict[str, Any]] | None:
    """The profile (and its per-script entry) of a training script basename, e.g. train_dreambooth_lora.py."""
    for profile in load_profiles().values():
        for entry in profile.scripts:
            if fnmatch.fnmatch(script, entry["match"]):
                return profile, entry
    return None


# ----------------------------------------------------------------------------- paths


def get_path(data: Any, path: str) -> Any:
    """data['a']['b'][0] for 'a.b.0'; _ABSENT when any step is missing. A key may itself hold dots."""
    if isinstance(data, dict) and path in data:
        return data[path]
    current = data
    parts = path.split(".")
    i = 0
    while i < len(parts):
        if isinstance(current, dict):
            for j in range(len(parts), i, -1):  # longest key first: "a.b" may be one key
                key = ".".join(parts[i:j])
                if key in current:
                    current = current[key]
                    i = j
                    break
            else:
                return _ABSENT
        elif isinstance(current, list) and parts[i].isascii() and parts[i].isdigit() and int(parts[i]) < len(current):
            current = current[int(parts[i])]
            i += 1
        else:
            return _ABSENT
    return current


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    current = data
    for part in parts[:-1]:
        nxt = current.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            current[part] = nxt
        current = nxt
    current[parts[-1]] = value


def _pop_path(data: dict[str, Any], path: str) -> Any:
    parts = path.split(".")
    current: Any = data
    for part in parts[:-1]:
        if not isinstance(current, dict) or part not in current:
            return _ABSENT
        current = current[part]
    if not isinstance(current, dict) or parts[-1] not in current:
        return _ABSENT
    return current.pop(parts[-1])


def leaves(data: Any, prefix: str = "", out: list[tuple[str, Any]] | None = None) -> list[tuple[str, Any]]:
    """(dotted path, value) of every scalar or scalar list under data."""
    out = [] if out is None else out
    if len(out) > MAX_ITEMS:
        raise ValueError(f"more than {MAX_ITEMS} keys")
    if isinstance(data, dict):
        for key, value in data.items():
            leaves(value, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(data, list) and any(isinstance(x, (dict, list)) for x in data):
        for index, value in enumerate(data):
            leaves(value, f"{prefix}.{index}", out)
    else:
        out.append((prefix, data))
    return out


# ----------------------------------------------------------------------------- migrations


def migrate(
    profile: Profile, data: dict[str, Any], spec: dict[str, Any] | None = None
) -> tuple[dict[str, Any], str | None]:
    """Apply the profile's config-era migrations to a copy of data; (migrated, note or None)."""
    spec = spec if spec is not None else profile.migrations
    if not spec or not isinstance(data, dict):
        return data, None
    key = spec.get("version_key", "__version")
    raw = data.get(key, 0)
    try:
        version = int(raw)
    except (TypeError, ValueError):
        version = 0
    steps = [s for s in spec.get("steps") or () if int(s["from"]) >= version]
    if not steps:
        return data, None
    out = copy.deepcopy(data)
    for step in sorted(steps, key=lambda s: int(s["from"])):
        for op in step.get("ops") or ():
            _apply_op(out, op)
    current = spec.get("current")
    note = f"config version {version} migrated to {current} as {profile.title} does" if current else None
    return out, note


def _parts(op: dict[str, Any]) -> list[dict[str, str]]:
    parts = op.get("parts")
    return [{"part": p} for p in parts] if parts else [{}]


def _apply_op(data: dict[str, Any], op: dict[str, Any]) -> None:
    if "when" in op and not _holds(op["when"], data, {}, _ABSENT):
        return
    kind = op["op"]
    for subst in _parts(op):

        def fill(text: str, subst: dict[str, str] = subst) -> str:
            return text.format(**subst) if subst else text

        if kind == "move":
            value = _pop_path(data, fill(op["from"]))
            if value is not _ABSENT:
                _set_path(data, fill(op["to"]), value)
                for extra_key, extra_value in (op.get("also_set") or {}).items():
                    _set_path(data, fill(extra_key), extra_value)
        elif kind == "copy":
            value = get_path(data, fill(op["from"]))
            if value is not _ABSENT:
                _set_path(data, fill(op["to"]), copy.deepcopy(value))
        elif kind == "nest_prefix":  # optimizer + optimizer_<x> -> optimizer: {optimizer: .., <x>: ..}
            into, prefix = op["into"], op["prefix"]
            nested: dict[str, Any] = {}
            for key in [k for k in list(data) if isinstance(k, str) and k.startswith(prefix)]:
                nested[key[len(prefix) :]] = data.pop(key)
            head = data.pop(into, _ABSENT)
            if head is not _ABSENT and not isinstance(head, dict):
                nested[op.get("head_as", into)] = head
            if nested or head is not _ABSENT:
                data[into] = nested if not isinstance(head, dict) else {**head, **nested}
        elif kind == "map_values":
            value = get_path(data, fill(op["key"]))
            if value is not _ABSENT:
                mapped = _lookup(op["values"], value)
                if mapped is not _ABSENT:
                    _set_path(data, fill(op["key"]), mapped)
        elif kind == "set":
            _set_path(data, fill(op["key"]), op["value"])
        elif kind == "set_if_missing":
            if get_path(data, fill(op["key"])) is _ABSENT:
                _set_path(data, fill(op["key"]), op["value"])
        elif kind == "drop":
            _pop_path(data, fill(op["key"]))
        elif kind == "each":  # apply ops to every item of a list
            items = get_path(data, op["list"])
            if isinstance(items, list):
                for item in items:
                    if isinstance(item, dict):
                        for inner in op["ops"]:
                            _apply_op(item, inner)
        else:
            raise ValueError(f"unknown migration op {kind!r}")


# ----------------------------------------------------------------------------- evaluation


@dataclass
class Located:
    """Where keys of one document are: a callable giving the 1-based line of a dotted path."""

    path: str
    line_of: Callable[[str], int | None] = field(default=lambda _key: None)


@dataclass
class _Ctx:
    profile: Profile
    data: Any  # the whole document
    root: Any  # where relative keys are read
    root_prefix: str
    where: Located
    variables: dict[str, str]
    overrides: dict[str, Any]
    fields: dict[str, tuple[Any, Provenance, str | None]] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    facts: list[Fact] = field(default_factory=list)


def _lookup(table: dict[str, Any], value: Any) -> Any:
    """table[value], case-insensitive for strings, with glob patterns as keys; _ABSENT when unmatched."""
    if isinstance(value, bool) or value is None:
        for key, mapped in table.items():
            if str(key).lower() == str(value).lower():
                return mapped
        return _ABSENT
    text = str(value).strip()
    lowered = text.lower()
    for key, mapped in table.items():
        if str(key).lower() == lowered:
            return mapped
    for key, mapped in table.items():
        if any(c in str(key) for c in "*?[") and fnmatch.fnmatchcase(lowered, str(key).lower()):
            return mapped
    return _ABSENT


def _is_null(value: Any) -> bool:
    return value is None or value is _ABSENT or (isinstance(value, str) and value.strip() == "")


def _number(value: Any) -> float | None:
    """A finite number through the one value reader (huge integers, nan, inf and junk are None)."""
    if isinstance(value, bool) or value is None or value is _ABSENT:
        return None
    try:
        return to_float(value if isinstance(value, (int, float)) else str(value))
    except ValueProblem:
        return None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on", "y")
    return bool(value) and value is not _ABSENT


def _compare(actual: Any, test: dict[str, Any]) -> bool:
    for op, expected in test.items():
        if op == "is":
            if isinstance(expected, str) and isinstance(actual, str):
                ok = actual.strip().lower() == expected.lower()
            elif isinstance(expected, bool):
                ok = actual is not _ABSENT and actual is not None and _truthy(actual) == expected
            elif expected is None:
                ok = _is_null(actual)
            else:
                n = _number(actual)
                ok = n is not None and _number(expected) is not None and n == _number(expected)
        elif op in ("in", "not_in"):
            hit = any(_compare(actual, {"is": e}) for e in expected)
            ok = hit if op == "in" else not hit
        elif op in ("gt", "ge", "lt", "le"):
            n = _number(actual)
            ok = (
                n is not None and {"gt": n > expected, "ge": n >= expected, "lt": n < expected, "le": n <= expected}[op]
            )
        elif op == "present":
            ok = (not _is_null(actual)) == bool(expected)
        elif op == "truthy":
            ok = _truthy(actual) == bool(expected)
        elif op == "matches":
            ok = isinstance(actual, str) and fnmatch.fnmatch(actual.lower(), str(expected).lower())
        else:
            raise ValueError(f"unknown condition {op!r}")
        if not ok:
            return False
    return True


def _holds(cond: dict[str, Any], data: Any, fields: dict[str, Any], value: Any, ctx: _Ctx | None = None) -> bool:
    if "all" in cond:
        return all(_holds(c, data, fields, value, ctx) for c in cond["all"])
    if "any" in cond:
        return any(_holds(c, data, fields, value, ctx) for c in cond["any"])
    if "not" in cond:
        return not _holds(cond["not"], data, fields, value, ctx)
    test = {k: v for k, v in cond.items() if k not in ("key", "field", "value")}
    if "key" in cond:
        actual = _read(ctx, cond["key"])[0] if ctx is not None else get_path(data, cond["key"])
    elif "field" in cond:
        entry = fields.get(cond["field"])
        actual = entry[0] if isinstance(entry, tuple) else (_ABSENT if entry is None else entry)
    else:
        actual = value
    return _compare(actual, test)


def _read(ctx: _Ctx, key: str) -> tuple[Any, str]:
    """(value, full dotted path) of a profile key, relative to the root unless it starts with '/'."""
    key = key.format(**ctx.variables) if "{" in key else key
    if key == ".":
        return ctx.root, ctx.root_prefix
    if key.startswith("/"):
        return get_path(ctx.data, key[1:]), key[1:]
    full = f"{ctx.root_prefix}.{key}" if ctx.root_prefix else key
    return get_path(ctx.root, key), full


_CONVERTERS: dict[str, Callable[[Any], tuple[Any, str | None]]] = {}


def converter(
    name: str,
) -> Callable[[Callable[[Any], tuple[Any, str | None]]], Callable[[Any], tuple[Any, str | None]]]:
    def register(fn: Callable[[Any], tuple[Any, str | None]]) -> Callable[[Any], tuple[Any, str | None]]:
        _CONVERTERS[name] = fn
        return fn

    return register


@converter("steps_or_ratio")
def _steps_or_ratio(value: Any) -> tuple[Any, str | None]:
    """OneTrainer warmup: above 1 a step count, in (0, 1] a fraction of all steps."""
    n = _number(value)
    if n is None:
        return value, None
    if n > 1:
        return int(n) if n.is_integer() else n, None
    if n <= 0:
        return 0, None
    return float(n), "a value in (0, 1] is a fraction of all steps"


@converter("area_to_side")
def _area_to_side(value: Any) -> tuple[Any, str | None]:
    """Megapixels (SimpleTuner resolution_type=area) to the side of a square of that area, to 64 px."""
    n = _number(value)
    if n is None or n <= 0:
        return value, None
    if n > 1e6:  # a million megapixels is no training resolution
        return value, None
    side = int(round(math.sqrt(n * 1e6) / 64.0) * 64)
    return side, f"{value} megapixels = about {side}x{side}"


@converter("plus_one")
def _plus_one(value: Any) -> tuple[Any, str | None]:
    n = _number(value)
    if n is None:
        return value, None
    total = int(n) + 1 if n.is_integer() else n + 1
    return total, f"repeats {value} means {total} passes (counts extra passes)"


@converter("comma_kv")
def _comma_kv(value: Any) -> tuple[Any, str | None]:
    """`"weight_decay=0.01,betas=0.9"` -> ["weight_decay=0.01", "betas=0.9"] (SimpleTuner --optimizer_config)."""
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if "=" in p], None
    return value, None


@converter("dot_prefix")
def _dot_prefix(value: Any) -> tuple[Any, str | None]:
    text = str(value).strip()
    return (text if text.startswith(".") or not text else f".{text}"), None


@converter("multi_resolution")
def _multi_resolution(value: Any) -> tuple[Any, str | None]:
    """`"512,768,1024"` / [512, 768] = several training resolutions; `"768x1024"` / 512 = one."""
    items = value if isinstance(value, list) else [p for p in re.split(r"\s*,\s*", str(value).strip()) if p]
    if len(items) > 1:
        ints = [int(_number(x)) if _number(x) is not None else x for x in items]
        return ints, "several resolutions: the data is used once at each"
    return (items[0] if items else value), None


@converter("bool")
def _bool(value: Any) -> tuple[Any, str | None]:
    return _truthy(value), None


@converter("python_list")
def _python_list(value: Any) -> tuple[Any, str | None]:
    """`"['conv_dim=4', 'conv_alpha=1']"` (a list logged as its repr) back to a list."""
    if isinstance(value, str) and value.strip().startswith("[") and value.strip().endswith("]"):
        inner = value.strip()[1:-1]
        return [p.strip().strip("'\"") for p in re.split(r",\s*(?=['\"])", inner) if p.strip()], None
    return value, None


def _transform(spec: dict[str, Any], ctx: _Ctx, raw: Any) -> tuple[Any, list[str]]:
    notes: list[str] = []
    value = raw
    if "enum" in spec:
        table = spec["enum"] if isinstance(spec["enum"], dict) else ctx.profile.enums[spec["enum"]]
        mapped = _lookup(table, value)
        if mapped is not _ABSENT:
            if isinstance(mapped, dict):  # {value: ..., note: ...}
                if mapped.get("note"):
                    notes.append(mapped["note"])
                mapped = mapped.get("value")
            if isinstance(mapped, str) and "{raw}" in mapped:
                mapped = mapped.replace("{raw}", str(value))
            if not (isinstance(mapped, str) and isinstance(value, str) and mapped == value):
                notes.append(
                    f"{ctx.profile.title} {value!s} = {mapped!s}"
                    if mapped is not None
                    else f"{ctx.profile.title} {value!s}: none"
                )
            value = mapped
        elif spec.get("enum_only"):
            return _ABSENT, notes
    if spec.get("negate"):
        value = not _truthy(value)
    if "add" in spec:
        n = _number(value)
        if n is not None:
            total = n + spec["add"]
            value = int(total) if float(total).is_integer() else total
            notes.append(f"{raw} + {spec['add']}")
    if "scale" in spec:
        n = _number(value)
        if n is not None:
            value = n * spec["scale"]
    conversions = [spec["convert"]] if "convert" in spec else []
    for case in spec.get("convert_if") or ():
        if _holds(case["if"], ctx.root, _field_values(ctx), value, ctx):
            conversions.append(case["convert"])
            break
    for name in conversions:
        value, note = _CONVERTERS[name](value)
        if note:
            notes.append(note)
    return value, notes


def evaluate(
    profile: Profile,
    data: Any,
    where: Located,
    *,
    overrides: dict[str, Any] | None = None,
    root: str | None = None,
    emit_unmapped: bool = True,
) -> tuple[list[Fact], list[str], set[str]]:
    """Facts (canonical names) for one document of this profile; (facts, warnings, used paths)."""
    warnings: list[str] = []
    data = prepare(profile, data)
    data, migrated = migrate(profile, data) if isinstance(data, dict) else (data, None)
    root_path = profile.root if root is None else root
    root_data = get_path(data, root_path) if root_path else data
    if root_data is _ABSENT:  # the settings block alone (ai-toolkit's process block sent to W&B)
        root_data, root_path = data, ""
    elif root_path and root_path.endswith(".0"):
        siblings = get_path(data, root_path[:-2])
        if isinstance(siblings, list) and len(siblings) > 1:
            warnings.append(
                f"{where.path}: {root_path[:-2]} holds {len(siblings)} trainings; the first is read "
                f"({profile.title} runs them one after another)"
            )
    ctx = _Ctx(profile, data, root_data, root_path or "", where, {}, dict(overrides or {}))
    ctx.variables = _variables(profile, ctx)
    for spec in profile.fields:
        _field(spec, ctx, migrated)
    if profile.datasets:
        _datasets(profile.datasets, ctx, warnings)
    if emit_unmapped:
        _unmapped(ctx)
    return ctx.facts, warnings, ctx.used


def prepare(profile: Profile, data: Any) -> Any:
    """The document as the trainer sees its keys: a leading `--` dropped (SimpleTuner), the string
    "false" dropped so the default applies (SimpleTuner's JSON/TOML/env readers), nulls dropped."""
    rules = profile.document
    if not rules or not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    prefix = rules.get("strip_key_prefix")
    for key, value in data.items():
        name = str(key)
        if prefix and name.startswith(prefix):
            name = name[len(prefix) :]
        if rules.get("drop_string_false") and isinstance(value, str) and value.strip().lower() == "false":
            continue
        if rules.get("drop_null") and (value is None or value == ""):
            continue
        if rules.get("string_true_is_flag") and isinstance(value, str) and value.strip().lower() == "true":
            value = True
        out[name] = value
    return out


def _variables(profile: Profile, ctx: _Ctx) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, spec in profile.variables.items():
        value = _read(ctx, spec["key"])[0] if "key" in spec else _ABSENT
        mapped = _lookup(spec.get("map") or {}, value) if value is not _ABSENT else _ABSENT
        out[name] = str(mapped if mapped is not _ABSENT else spec.get("default", ""))
    return out


def _first(spec: dict[str, Any], ctx: _Ctx) -> tuple[Any, str | None]:
    for key in spec.get("keys") or ():
        value, full = _read(ctx, key)
        ctx.used.add(full)
        if value is not _ABSENT and not (value is None and not spec.get("keep_null")):
            if isinstance(value, str) and value.strip() == "" and not spec.get("keep_empty"):
                continue
            return value, full
    for flag in spec.get("flags") or ():
        value, full = _read(ctx, flag["key"])
        if not isinstance(value, (dict, list)):
            ctx.used.add(full)
        if value is not _ABSENT and _truthy(value):
            return flag["value"], full
    if "any_true" in spec:
        found = []
        for key in spec["any_true"]:
            value, full = _read(ctx, key)
            ctx.used.add(full)
            if value is not _ABSENT and value is not None:
                found.append((_truthy(value), full))
        if found:
            hit = next((f for t, f in found if t), found[0][1])
            return any(t for t, _ in found), hit
    return _ABSENT, None


def _field(spec: dict[str, Any], ctx: _Ctx, migrated: str | None, *, item: bool = False) -> None:
    name = spec["name"]
    emit = name if not spec.get("internal") else None
    for key in spec.get("uses") or ():
        ctx.used.add(_read(ctx, key)[1])
    if "from_field" in spec:
        entry = ctx.fields.get(spec["from_field"])
        if entry is None:
            return
        value, provenance, note = entry
        value, _notes = _transform(spec, ctx, value)
        line_key = None
        note = spec.get("note") or note
    else:
        raw, full = _first(spec, ctx)
        line_key = full
        notes = []
        if raw is not _ABSENT:
            provenance = Provenance.EXPLICIT
            value, notes = _transform(spec, ctx, raw)
            if value is _ABSENT:
                return
            if spec.get("note"):
                notes.insert(0, spec["note"])
        elif name not in ctx.overrides and "default_field" in spec and spec["default_field"] in ctx.fields:
            value, _prov, _n = ctx.fields[spec["default_field"]]
            provenance = Provenance.DEFAULT
            notes = [spec.get("default_note") or f"{ctx.profile.default_note}: {name} = {spec['default_field']}"]
        elif name in ctx.overrides or "default" in spec:
            default = ctx.overrides.get(name, spec.get("default"))
            override_note = None
            if isinstance(default, dict) and "value" in default:  # {value, note, provenance}
                override_note, default = default.get("note"), default["value"]
            provenance = Provenance.DEFAULT
            value, notes = _transform(spec, ctx, default) if default is not None else (None, [])
            if value is _ABSENT:
                return
            notes = [override_note or spec.get("default_note") or ctx.profile.default_note]
        else:
            return
        note = "; ".join(notes) if notes else None
    if "when" in spec and not _holds(spec["when"], ctx.root, _field_values(ctx), value, ctx):
        if "otherwise" not in spec:
            return
        value = spec["otherwise"]
        note = spec.get("otherwise_note") or note
        if provenance is Provenance.DEFAULT and spec.get("otherwise_explicit"):
            provenance = Provenance.EXPLICIT
    for rule in spec.get("rewrite") or ():
        if _holds(rule["if"], ctx.root, _field_values(ctx), value, ctx):
            if "set" in rule:
                value = rule["set"]
            elif "set_field" in rule:
                value = ctx.fields.get(rule["set_field"], (None,))[0]
            elif "divide_by_field" in rule:  # {divide_by_field: name, floor: bool}: value / that field
                by, n = _number(ctx.fields.get(rule["divide_by_field"], (None,))[0]), _number(value)
                if not by or by <= 0 or n is None:
                    continue
                value = int(n / by) if rule.get("floor") else n / by
            note = rule.get("note") or note
            if rule.get("provenance"):
                provenance = Provenance(rule["provenance"])
            if rule.get("from_key") and _read(ctx, rule["from_key"])[0] is not _ABSENT:
                provenance, line_key = Provenance.EXPLICIT, _read(ctx, rule["from_key"])[1]  # the flag that decided
            break
    ctx.fields[name] = (value, provenance, note)
    if emit is None:
        return
    line = ctx.where.line_of(line_key) if line_key else None
    if provenance is Provenance.DEFAULT:
        line = None
    kind = SourceKind.PROFILE
    if spec.get("raw_if_list") and isinstance(value, list) and len(value) > 1:
        kind = SourceKind.RAW  # several values (multi-resolution): kept as written, not coerced to one
    ctx.facts.append(Fact(emit, value, kind, ctx.where.path, line, provenance, note))


def _field_values(ctx: _Ctx) -> dict[str, Any]:
    return {k: v[0] for k, v in ctx.fields.items()}


def _datasets(spec: dict[str, Any], ctx: _Ctx, warnings: list[str]) -> None:
    """Per-dataset fields, evaluated on each item, then one fact per name (a list when they differ)."""
    items_raw = None
    list_key = None
    for key in spec.get("keys") or ():
        value, full = _read(ctx, key)
        if isinstance(value, list):
            items_raw, list_key = value, full
            break
    if items_raw is None:
        return
    ctx.used.add(list_key)
    collected: dict[str, list[tuple[Any, Provenance, str | None, int | None, SourceKind]]] = {}
    kept = 0
    for index, item in enumerate(items_raw[:MAX_ITEMS]):
        if not isinstance(item, dict):
            continue
        item_prefix = f"{list_key}.{index}" if list_key else str(index)
        if "migrations" in spec:
            item, _ = migrate(ctx.profile, item, spec["migrations"])
        sub = _Ctx(ctx.profile, ctx.data, item, item_prefix, ctx.where, ctx.variables, {})
        sub.fields = dict(ctx.fields)
        if "filter" in spec and not _holds(spec["filter"], item, {}, _ABSENT, sub):
            ctx.used.add(item_prefix)
            continue
        kept += 1
        before = len(sub.facts)
        for field_spec in spec["fields"]:
            _field(field_spec, sub, None, item=True)
        for fact in sub.facts[before:]:
            collected.setdefault(fact.key, []).append((fact.value, fact.provenance, fact.note, fact.line, fact.kind))
        ctx.used |= sub.used
        ctx.used.add(item_prefix)  # the rest of the item is dataset detail, listed below
        label = "dataset" if len(items_raw) == 1 else f"dataset{index}"
        for path, value in leaves(item, item_prefix):
            if path not in sub.used:
                ctx.facts.append(
                    Fact(
                        f"{label}.{path[len(item_prefix) + 1 :]}",
                        value,
                        SourceKind.RAW,
                        ctx.where.path,
                        ctx.where.line_of(path),
                    )
                )
    for name, values in collected.items():
        distinct: list[Any] = []
        for value, *_ in values:
            if value not in distinct:
                distinct.append(value)
        explicit = [v for v in values if v[1] is Provenance.EXPLICIT]
        provenance = Provenance.EXPLICIT if explicit else Provenance.DEFAULT
        first = explicit[0] if explicit else values[0]
        value = distinct[0] if len(distinct) == 1 else distinct
        note = first[2] if len(distinct) == 1 else f"differs between datasets: {distinct}"
        if kept > 1 and len(distinct) == 1 and explicit and len(explicit) < len(values):
            note = f"{note}; " if note else ""
            note += "set on some datasets, the default on others"
        kind = SourceKind.RAW if any(v[4] is SourceKind.RAW for v in values) else SourceKind.PROFILE
        ctx.facts.append(
            Fact(
                name,
                value,
                kind,
                ctx.where.path,
                first[3] if provenance is Provenance.EXPLICIT else None,
                provenance,
                note,
            )
        )
    if kept == 0 and items_raw:
        warnings.append(f"{ctx.where.path}: no dataset entry is in effect (all disabled or of another kind)")


def _unmapped(ctx: _Ctx) -> None:
    """Keys no field reads: shown under their own name (prefixed with the trainer where it would pose
    as a canonical parameter), except the profile's `ignore` list."""
    from rundiff.normalise.registry import load_registry

    registry = load_registry()
    prefix = ctx.root_prefix
    root_leaves = leaves(ctx.root, prefix)
    for path, value in root_leaves:
        if any(path == u or path.startswith(u + ".") for u in ctx.used):
            continue
        rel = path[len(prefix) + 1 :] if prefix else path
        if any(
            fnmatch.fnmatch(rel, pattern) or rel == pattern or rel.startswith(pattern + ".")
            for pattern in ctx.profile.ignore
        ):
            continue
        name = rel
        if ctx.profile.strip_prefix and name.startswith(ctx.profile.strip_prefix):
            name = name[len(ctx.profile.strip_prefix) :]
        if registry.get(name) is not None or name in ctx.fields:
            name = f"{ctx.profile.name}.{name}"
        ctx.facts.append(Fact(name, value, SourceKind.RAW, ctx.where.path, ctx.where.line_of(path)))
