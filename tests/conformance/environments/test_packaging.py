"""Packaging: include_modules, include_data, dotted entrypoints (API 10.1-10.3)."""

from __future__ import annotations

import compileall
import sys
import types

import pytest

from skyrun.compute import Function
from skyrun.compute.bundle import parse_requirements
from skyrun.exceptions import ValidationError
from tests.environment_support import bundle_names, make_package, run, unique

ENTRY = ["__skyrun_entrypoint__.json", "__skyrun_entrypoint__.pkl"]


def test_requirement_lines():
    with pytest.raises(ValidationError, match=r"Invalid Python requirements: not a valid req!!"):
        parse_requirements(["not a valid req!!"])
    with pytest.raises(ValidationError, match=r"Invalid Python requirements: bad one!,oops!!"):
        parse_requirements(["six", "bad one!", "oops!!"])
    lines = ["-f https://example.com/wheels", "--extra-index-url https://example.com/simple",
             "# comment", "https://example.com/pkg.whl", "torch==2.0.1+cpu", "", "six>=1"]
    assert parse_requirements(lines) == [line for line in lines if line]
    with pytest.raises(ValidationError, match="Requirements file at /no/such/file not found"):
        parse_requirements("/no/such/file")


def test_scenario_8_dotted_entrypoint(root):
    pkg = unique("mypkg")
    make_package(root, pkg, {"mymod.py": """
        def myfunc(x):
            return x * 2

        NOT_CALLABLE = 5
        """, "broken.py": "raise RuntimeError('boom')\n"})
    fn = Function(f"{pkg}.mymod.myfunc", include_modules=[pkg])
    assert run(fn, 21) == 42
    assert fn.name == "myfunc"
    assert bundle_names(fn) == sorted(["__skyrun_entrypoint__.json", f"{pkg}/__init__.py",
                                       f"{pkg}/broken.py", f"{pkg}/mymod.py"])
    with pytest.raises(NameError, match=f"Cannot resolve function name '{pkg}.mymod.nothing'"):
        Function(f"{pkg}.mymod.nothing", include_modules=[pkg]).save()
    with pytest.raises(NameError, match=f"Cannot resolve function name '{pkg}.missing.myfunc'"):
        Function(f"{pkg}.missing.myfunc", include_modules=[pkg]).save()
    with pytest.raises(NameError, match=f"error importing module {pkg}.broken: boom"):
        Function(f"{pkg}.broken.f").save()
    with pytest.raises(ValidationError, match="Compute main function must be a callable"):
        Function(f"{pkg}.mymod.NOT_CALLABLE", include_modules=[pkg]).save()
    with pytest.raises(ValidationError, match="function: "):
        Function("justone").save()
    assert Function.search().count() == 1


def test_helper_module_used_by_a_callable_travels_by_value(root):
    helpers = unique("helpers")
    (root / f"{helpers}.py").write_text("def double(x):\n    return 2 * x\n")
    module = __import__(helpers)

    def main(x):
        return module.double(x) + 1

    assert run(Function(main, include_modules=[helpers]), 4) == 9


def test_system_module_is_refused():
    with pytest.raises(ValidationError, match=r"Cannot include system modules: `.*site-packages"):
        Function(lambda: 1, include_modules=["cloudpickle"]).save()


def test_byte_code_only_module(root):
    name = unique("compiled")
    source = root / f"{name}.py"
    source.write_text("X = 1\n")
    compileall.compile_file(str(source), legacy=True, quiet=1)
    source.unlink()
    with pytest.raises(OSError, match=f"only byte code exists: `{name}`"):
        Function(lambda: 1, include_modules=[name]).save()


def test_missing_parent_init(root):
    pkg = unique("nsp")
    (root / pkg).mkdir()
    (root / pkg / "mod.py").write_text("X = 1\n")
    with pytest.raises(OSError, match=r"Source code for module is missing: `.*__init__\.py`"):
        Function(lambda: 1, include_modules=[f"{pkg}.mod"]).save()


def test_cython_source(root, tmp_path, monkeypatch):
    # A compiled module whose Cython source sits in the working directory is refused; one
    # elsewhere on sys.path is bundled as its .pyx.
    for where, refused in ((tmp_path, True), (root, False)):
        name = unique("cy")
        (where / f"{name}.pyx").write_text("def f():\n    return 1\n")
        module = types.ModuleType(name)
        module.__file__ = str(where / f"{name}.cpython-311-x86_64-linux-gnu.so")
        monkeypatch.setitem(sys.modules, name, module)
        monkeypatch.syspath_prepend(str(where))
        fn = Function(lambda: 1, include_modules=[name])
        if refused:
            with pytest.raises(ValidationError, match="Cannot include cython modules from "
                                                      "working directory"):
                fn.save()
        else:
            fn.save()
            assert f"{name}.pyx" in bundle_names(fn)


def test_data_rules(root, tmp_path):
    (root / "d").mkdir()
    (root / "d" / "x.txt").write_text("x")
    with pytest.warns(UserWarning, match="Include data pattern had no matches: .*\\*.nope"):
        Function(lambda: 1, include_data=[f"{root}/d/*.nope"]).save()
    with pytest.raises(ValidationError, match="No data file found for path: .*missing.txt"):
        Function(lambda: 1, include_data=[f"{root}/d/missing.txt"]).save()
    directories = (r"Cannot accept directories as include data\. "
                   r"Use globs instead: .*/d/\*\.\* OR .*/d/\*\*/\*\.\*")
    with pytest.raises(ValidationError, match=directories):
        Function(lambda: 1, include_data=[f"{root}/d"]).save()
    (root / "d" / "gone.txt").symlink_to(root / "d" / "never-there")
    with pytest.raises(ValidationError, match="Data file does not exist: .*gone.txt"):
        Function(lambda: 1, include_data=[f"{root}/d/g*.txt"]).save()
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("o")
    with pytest.raises(OSError, match="Location is not on system path"):
        Function(lambda: 1, include_data=[str(outside)]).save()
    (root / "__main__.py").write_text("")
    with pytest.raises(ValidationError, match="forbidden relative path `__main__.py`"):
        Function(lambda: 1, include_data=[f"{root}/__main__.py"]).save()
    (root / "__skyrun_x.txt").write_text("")
    with pytest.raises(ValidationError, match="forbidden relative path `__skyrun_x.txt`"):
        Function(lambda: 1, include_data=[f"{root}/__skyrun*"]).save()
    assert Function.search().count() == 1  # only the one with the unmatched glob


def test_data_path_is_relative_to_the_longest_sys_path_entry(root, monkeypatch):
    inner = root / "inner"
    (inner / "deep").mkdir(parents=True)
    (inner / "deep" / "f.txt").write_text("deep")
    monkeypatch.syspath_prepend(str(inner))

    def main():
        with open("deep/f.txt") as f:
            return f.read()

    fn = Function(main, include_data=[f"{inner}/deep/**/*.txt"])
    assert run(fn) == "deep"
    assert "deep/f.txt" in bundle_names(fn)
    assert "__init__.py" not in " ".join(bundle_names(fn))


def test_duplicate_modules_are_stored_once(root):
    pkg = unique("dup")
    make_package(root, pkg, {"m.py": "M = 1\n"})
    fn = Function(lambda: 1, include_modules=[pkg, f"{pkg}.m", f"{pkg}.m"])
    fn.save()
    names = bundle_names(fn)
    assert names.count(f"{pkg}/m.py") == 1 and names.count(f"{pkg}/__init__.py") == 1
