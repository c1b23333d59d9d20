"""Each stage declares its inputs once: the settings fields it reads and the stages it needs. Its cache key, its
chapter's parameters and the guard on what it may read all come from that declaration.

    @stage(fields=("crop_sizes", "test_center_crop"), needs=("training",), chapters=("05_crop_size",))
    def crop_size(run): ...

A stage sees `run.settings` as a SettingsView: reading a field outside its declaration (or the declarations of
the stages it needs), or calling a stage it does not need, raises UndeclaredInput, so a key cannot miss an input."""
from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import inspect
import types
from dataclasses import dataclass
from typing import Callable

from ..runs import params_hash
from ..settings import UNKEYED_FIELDS, Settings

ALWAYS_READABLE = ("run_dir",)  # where the run writes (Run.path): never part of a result


class UndeclaredInput(RuntimeError):
    """A stage read a setting or called a stage that its declaration does not list."""


@dataclass(frozen=True)
class Declaration:
    name: str
    fields: tuple[str, ...]  # settings fields the stage reads itself
    needs: tuple[str, ...]  # stages (or shared inputs such as "data") whose results or fields it uses
    chapters: tuple[str, ...]  # the notebooks that run it
    module: str | None  # its code (None: a shared input without code of its own)
    extra: Callable | None = None  # run -> dict of what identifies it besides its fields (the data's files)


DECLARATIONS: dict[str, Declaration] = {}


def declare(name: str, fields=(), needs=(), chapters=(), module: str | None = None, extra=None) -> Declaration:
    """Register the inputs of `name`; a stage with code (`module`) needs the run's data as well."""
    unknown = [f for f in fields if f not in Settings.model_fields]
    if unknown:
        raise ValueError(f"{name} declares unknown settings {unknown}")
    if module and "data" not in needs:
        needs = ("data", *needs)
    declaration = Declaration(name, tuple(fields), tuple(needs), tuple(chapters), module, extra)
    DECLARATIONS[name] = declaration
    return declaration


def stage(fields=(), needs=(), chapters=(), name: str | None = None):
    """Decorator: declare a stage function's inputs and run it with a SettingsView of them."""
    def wrap(function):
        declaration = declare(name or function.__name__, fields, needs, chapters, module=function.__module__)

        @functools.wraps(function)
        def run_stage(run, *args, **kwargs):
            return function(seen_by(run, declaration), *args, **kwargs)

        run_stage.declaration = declaration
        return run_stage
    return wrap


def needed(name: str) -> set[str]:
    """Every stage or shared input that `name` needs, directly or through others."""
    found: set[str] = set()
    for need in DECLARATIONS[name].needs:
        found |= {need} | needed(need)
    return found


def fields_read(name: str) -> set[str]:
    """The settings fields `name` may read: its own and those of everything it needs."""
    return set(DECLARATIONS[name].fields).union(*(DECLARATIONS[n].fields for n in needed(name)))


def seen_by(run, declaration: Declaration):
    """The run as a stage sees it: its settings restricted to the stage's declared inputs."""
    caller = run.settings.stage if isinstance(run.settings, SettingsView) else None
    if caller and declaration.name not in needed(caller):
        raise UndeclaredInput(f"stage {caller!r} calls stage {declaration.name!r} without declaring it in needs")
    return dataclasses.replace(run, settings=SettingsView(run.full_settings, declaration.name))


class SettingsView:
    """Settings that answer only the fields a stage declares; its methods (train_config, tta_config...) read
    through the view, so what they read must be declared too."""

    def __init__(self, settings: Settings, stage_name: str):
        self.full = settings
        self.stage = stage_name
        self.allowed = fields_read(stage_name) | set(ALWAYS_READABLE)

    def __getattr__(self, name):
        if name in Settings.model_fields:
            if name not in self.allowed:
                raise UndeclaredInput(f"stage {self.stage!r} reads setting {name!r} without declaring it")
            return getattr(self.full, name)
        attribute = inspect.getattr_static(Settings, name)
        if isinstance(attribute, property):
            return attribute.fget(self)
        if isinstance(attribute, types.FunctionType):
            return types.MethodType(attribute, self)
        return getattr(self.full, name)


def key_inputs(name: str, run, memo: dict | None = None) -> dict:
    """What identifies the result of `name`: its keyed fields' values, the keys of what it needs, a hash of its code
    and (for the data) its files."""
    memo = {} if memo is None else memo
    if name not in memo:
        declaration = DECLARATIONS[name]
        values = run.full_settings.to_dict()
        inputs = {"fields": {f: values[f] for f in declaration.fields if f not in UNKEYED_FIELDS},
                  "needs": {n: params_hash(key_inputs(n, run, memo)) for n in declaration.needs}}
        if declaration.module:
            inputs["code"] = code_hash(declaration.module)
        if declaration.extra:
            inputs.update(declaration.extra(run))
        memo[name] = inputs
    return memo[name]


@functools.lru_cache(maxsize=None)
def code_hash(module_name: str) -> str:
    """Hash of a module's code and of the camlib modules it imports from (syntax trees: comments and layout do not
    count); the settings module is left out, its effect comes through the field values."""
    module = importlib.import_module(module_name)
    names = {module_name} | {m for m in map(_home_module, vars(module).values()) if m}
    names -= {"camlib.settings"}
    return params_hash({n: ast.dump(ast.parse(inspect.getsource(importlib.import_module(n)))) for n in sorted(names)})


def _home_module(value) -> str | None:
    """The camlib module a global of a module comes from (a module, function or class), else None."""
    name = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
    if not isinstance(name, str) or not name.startswith("camlib"):
        return None
    module = importlib.import_module(name)
    return name if (getattr(module, "__file__", None) or "").endswith(".py") else None


def chapter_fields() -> dict[str, tuple[str, ...]]:
    """Each chapter's parameters: profile, run_dir and whatever its stages read, in the settings' order."""
    chapters: dict[str, set[str]] = {}
    for declaration in DECLARATIONS.values():
        for chapter in declaration.chapters:
            chapters.setdefault(chapter, {"profile", "run_dir"}).update(fields_read(declaration.name))
    return {chapter: tuple(f for f in Settings.model_fields if f in names) for chapter, names in sorted(chapters.items())}
