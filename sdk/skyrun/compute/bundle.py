"""Packaging a Function: entrypoint, ``include_modules``, ``include_data`` and requirements
into a zip bundle whose root becomes the job's working directory and first ``sys.path``
entry."""

from __future__ import annotations

import glob
import importlib
import importlib.util
import io
import json
import os
import sys
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import cloudpickle

from skyrun.exceptions import ValidationError

ENTRYPOINT_META = "__skyrun_entrypoint__.json"
ENTRYPOINT_PICKLE = "__skyrun_entrypoint__.pkl"
REQUIREMENTS = "requirements.txt"
_SYSTEM_DIRS = ("site-packages", "dist-packages")


@dataclass
class Bundle:
    """The files of a bundle, by their path inside it."""

    files: dict[str, bytes] = field(default_factory=dict)
    entrypoint: dict = field(default_factory=dict)

    def zip(self) -> bytes:
        """The bundle as zip bytes (deterministic order)."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(self.files):
                zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)),
                            self.files[name])
        return buf.getvalue()


# -- entrypoint -------------------------------------------------------------------------
def default_name(function) -> str:
    """The Function name implied by the entrypoint."""
    if isinstance(function, str):
        return function.rsplit(".", 1)[-1]
    name = getattr(function, "__name__", None)
    if isinstance(name, str) and name:
        return name
    return type(function).__name__


def check_entrypoint(function) -> None:
    """Validate a callable or dotted name; raise ``ValidationError`` or ``NameError``."""
    if function is None:
        raise ValidationError("Function not provided!", errors={"function": ["Function not provided!"]})
    if isinstance(function, str):
        parts = function.split(".")
        if len(parts) < 2 or not all(p.isidentifier() for p in parts):
            raise ValidationError.single(
                "function", f"{function!r} is not a dotted name of at least two identifiers "
                            "such as 'package.module.function'")
        target = resolve_dotted(function)
        if target is not _UNRESOLVED and not callable(target):
            raise ValidationError(f"Compute main function must be a callable: `{function}`",
                                  errors={"function": [
                                      f"Compute main function must be a callable: `{function}`"]})
        return
    if not callable(function):
        msg = f"Compute main function must be a callable: `{function}`"
        raise ValidationError(msg, errors={"function": [msg]})


_UNRESOLVED = object()


def resolve_dotted(name: str):
    """Import ``pkg.mod.attr`` locally; ``_UNRESOLVED`` if its top package is not importable
    here (then the check happens in the job)."""
    top = name.split(".", 1)[0]
    try:
        if importlib.util.find_spec(top) is None:
            return _UNRESOLVED
    except (ImportError, ValueError):
        return _UNRESOLVED
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:i])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name) and i > 1:
                continue  # the module is shorter: try one segment less
            raise NameError(f"Cannot resolve function name '{name}', error importing module "
                            f"{module_name}: {exc}")
        except Exception as exc:
            raise NameError(f"Cannot resolve function name '{name}', error importing module "
                            f"{module_name}: {exc}")
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError as exc:
            raise NameError(f"Cannot resolve function name '{name}': {exc}")
        return obj
    raise NameError(f"Cannot resolve function name '{name}': no importable module")


def serialize_entrypoint(function, modules: list[str]) -> tuple[dict, bytes | None]:
    """``(metadata, pickle)`` for the entrypoint. Modules listed in ``include_modules``
    are pickled by value."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    if isinstance(function, str):
        return {"kind": "dotted", "name": function, "python": python}, None
    registered = []
    already: set[str] = getattr(cloudpickle.cloudpickle, "_PICKLE_BY_VALUE_MODULES", set())
    for name in dict.fromkeys(modules):  # a name listed twice is registered once
        module = sys.modules.get(name) or importlib.import_module(name)
        if module.__name__ in already:
            continue  # registered by the caller: leave it so afterwards
        try:
            cloudpickle.register_pickle_by_value(module)
            registered.append(module)
        except ValueError:
            pass
    try:
        data = cloudpickle.dumps(function)
    except Exception as exc:
        raise ValidationError.single("function", f"cannot be serialized with cloudpickle: {exc}")
    finally:
        for module in registered:
            cloudpickle.unregister_pickle_by_value(module)
    return {"kind": "pickle", "name": default_name(function), "python": python}, data


# -- include_modules --------------------------------------------------------------------
def _longest_root(path: Path) -> Path | None:
    """The longest ``sys.path`` entry that contains ``path``."""
    path = path.resolve()
    best = None
    for entry in sys.path:
        root = Path(entry or os.getcwd()).resolve()
        if path.is_relative_to(root) and (best is None or len(root.parts) > len(best.parts)):
            best = root
    return best


def _module_root(source: Path, name: str) -> Path:
    """The ``sys.path`` entry a module was imported from, from its dotted name."""
    depth = name.count(".") + (1 if source.name == "__init__.py" else 0)
    root = source.parents[depth]
    on_path = {Path(e or os.getcwd()).resolve() for e in sys.path}
    if root not in on_path:
        raise OSError(f"Location is not on system path: `{source}`")
    return root


def module_files(names: list[str]) -> dict[str, Path]:
    """``{path in bundle: source file}`` for the modules and packages named."""
    out: dict[str, Path] = {}
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ValidationError.single("include_modules", f"cannot import {name!r}: {exc}")
        source = _source_file(module, name)
        if any(part in _SYSTEM_DIRS for part in source.parts):
            raise ValidationError(f"Cannot include system modules: `{source}`.",
                                  errors={"include_modules": [
                                      f"Cannot include system modules: `{source}`."]})
        root = _module_root(source, name)
        if source.suffix == ".pyx" and root == Path.cwd().resolve():
            msg = f"Cannot include cython modules from working directory: `{source}`."
            raise ValidationError(msg, errors={"include_modules": [msg]})
        files = [source]
        if source.name == "__init__.py":  # a package: every source file below it
            files = sorted(p for p in source.parent.rglob("*")
                           if p.suffix in (".py", ".pyx") and "__pycache__" not in p.parts)
        for file in files:
            rel = file.resolve().relative_to(root)
            out[rel.as_posix()] = file
            # Parent packages need their __init__.py to be importable.
            for parent in rel.parents:
                if parent == Path("."):
                    continue
                init = root / parent / "__init__.py"
                if not init.exists():
                    raise OSError(f"Source code for module is missing: `{init}`.")
                out[(parent / "__init__.py").as_posix()] = init
    return out


def _source_file(module, name: str) -> Path:
    file = getattr(module, "__file__", None)
    if not file:
        raise OSError(f"Source code for module is missing, only byte code exists: `{name}`.")
    path = Path(file)
    if path.suffix == ".pyc":
        source = importlib.util.source_from_cache(str(path)) if "__pycache__" in path.parts \
            else str(path.with_suffix(".py"))
        path = Path(source)
        if not path.exists():
            raise OSError(f"Source code for module is missing, only byte code exists: `{name}`.")
    elif path.suffix not in (".py", ".pyx"):
        # A compiled extension: look for its Cython source on sys.path.
        pyx = name.replace(".", "/") + ".pyx"
        for entry in sys.path:
            candidate = Path(entry or ".") / pyx
            if candidate.exists():
                return candidate.resolve()
        raise OSError(f"Source code for module is missing, only byte code exists: `{name}`.")
    return path.resolve()


# -- include_data -----------------------------------------------------------------------
def data_files(patterns: list[str]) -> dict[str, Path]:
    """``{path in bundle: file}`` for the data patterns (glob rules of the original)."""
    out: dict[str, Path] = {}
    for pattern in patterns:
        matched = glob.glob(pattern, recursive=True)
        if not matched:
            if glob.has_magic(pattern):
                warnings.warn(f"Include data pattern had no matches: {pattern}", stacklevel=4)
                continue
            raise ValidationError(f"No data file found for path: {pattern}",
                                  errors={"include_data": [f"No data file found for path: {pattern}"]})
        for item in matched:
            path = Path(item)
            if path.is_dir():
                msg = (f"Cannot accept directories as include data. Use globs instead: "
                       f"{item}/*.* OR {item}/**/*.*")
                raise ValidationError(msg, errors={"include_data": [msg]})
            if not path.exists():
                msg = f"Data file does not exist: {item}"
                raise ValidationError(msg, errors={"include_data": [msg]})
            root = _longest_root(path)
            if root is None:
                raise OSError(f"Location is not on system path: `{path.resolve()}`")
            rel = path.resolve().relative_to(root).as_posix()
            _check_reserved(pattern, rel)
            out[rel] = path
    return out


def _check_reserved(pattern: str, rel: str) -> None:
    if rel == "__main__.py" or rel.split("/", 1)[0].startswith("__skyrun"):
        msg = f"{pattern} includes a file with the forbidden relative path `{rel}`"
        raise ValidationError(msg, errors={"include_data": [msg]})


# -- requirements -----------------------------------------------------------------------
def parse_requirements(requirements) -> list[str]:
    """The accepted requirement lines; ``ValidationError`` lists every bad one."""
    from packaging.requirements import InvalidRequirement, Requirement

    if requirements is None:
        return []
    if isinstance(requirements, (str, os.PathLike)):
        path = Path(requirements)
        if not path.is_file():
            msg = (f"Requirements file at {requirements} not found. Did you mean to specify a "
                   "single requirement? Pass it wrapped in a list.")
            raise ValidationError(msg, errors={"requirements": [msg]})
        lines = [line.strip() for line in path.read_text().splitlines()]
    else:
        lines = [str(line).strip() for line in requirements]
    accepted, bad = [], []
    for line in lines:
        if not line:
            continue
        if line.startswith(("#", "-", "https://")):
            accepted.append(line)
            continue
        candidate = line
        if "+" in line and "==" in line:
            candidate = line.split("+", 1)[0]  # a local version pin such as torch==2.0.1+cpu
        try:
            Requirement(candidate)
        except InvalidRequirement:
            bad.append(line)
            continue
        accepted.append(line)
    if bad:
        msg = f"Invalid Python requirements: {','.join(bad)}"
        raise ValidationError(msg, errors={"requirements": [msg]})
    return accepted


# -- the whole bundle -------------------------------------------------------------------
def build_bundle(function, requirements: list[str], include_modules: list[str] | None,
                 include_data: list[str] | None) -> Bundle:
    """Collect every file of the bundle (raises on the first packaging problem)."""
    modules = list(include_modules or [])
    bundle = Bundle()
    for rel, path in module_files(modules).items():
        _check_reserved(str(path), rel)
        bundle.files[rel] = path.read_bytes()
    for rel, path in data_files(list(include_data or [])).items():
        bundle.files[rel] = path.read_bytes()
    meta, pickled = serialize_entrypoint(function, modules)
    bundle.entrypoint = meta
    bundle.files[ENTRYPOINT_META] = json.dumps(meta).encode()
    if pickled is not None:
        bundle.files[ENTRYPOINT_PICKLE] = pickled
    if requirements:
        bundle.files[REQUIREMENTS] = ("\n".join(requirements) + "\n").encode()
    return bundle
