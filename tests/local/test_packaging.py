"""Packaging scenarios 6 and 7 (API 10.1-10.3) with requirements, on the embedded
backend's shared builds."""

from __future__ import annotations

from skyrun.compute import Function
from tests.environment_support import PACKAGE, bundle_names, finished, make_package, run, unique

ENTRY = ["__skyrun_entrypoint__.json", "__skyrun_entrypoint__.pkl"]


def test_scenario_6_two_modules_data_and_requirements(builds, root):
    finished(builds.first)  # the requirements' environment is then reused
    pkg = unique("pkg")
    make_package(root, pkg, {"a.py": "A = 'a'\n", "b.py": "B = 'b'\n", "c.py": "C = 'c'\n"})
    (root / "data").mkdir()
    (root / "data" / "table.csv").write_text("x,y\n1,2\n")

    def main():
        import importlib

        a = importlib.import_module(f"{pkg}.a")
        b = importlib.import_module(f"{pkg}.b")
        with open("data/table.csv") as f:
            return [a.A, b.B, f.read()]

    fn = Function(main, requirements=[PACKAGE], include_modules=[f"{pkg}.a", f"{pkg}.b"],
                  include_data=[str(root / "data" / "table.csv")])
    assert run(fn) == ["a", "b", "x,y\n1,2\n"]
    assert bundle_names(fn) == sorted(ENTRY + [
        "requirements.txt", "data/table.csv", f"{pkg}/__init__.py", f"{pkg}/a.py",
        f"{pkg}/b.py"])


def test_scenario_7_whole_package_data_glob_and_requirements_file(builds, root, tmp_path):
    finished(builds.first)
    pkg = unique("whole")
    make_package(root, pkg, {"one.py": "X = 1\n", "sub/__init__.py": "",
                             "sub/two.py": "Y = 2\n", "data/__init__.txt": "not code"})
    (root / pkg / "data" / "values.json").write_text('{"v": 3}')
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(f"\n# the package we need\n{PACKAGE}\n\n")

    def main():
        import importlib
        import json

        sub = importlib.import_module(f"{pkg}.sub.two")
        with open(f"{pkg}/data/values.json") as f:
            return [importlib.import_module(f"{pkg}.one").X, sub.Y, json.load(f)["v"]]

    fn = Function(main, requirements=str(reqs), include_modules=[pkg],
                  include_data=[f"{root}/{pkg}/data/*"])
    assert run(fn) == [1, 2, 3]
    assert bundle_names(fn) == sorted(ENTRY + [
        "requirements.txt", f"{pkg}/__init__.py", f"{pkg}/one.py", f"{pkg}/sub/__init__.py",
        f"{pkg}/sub/two.py", f"{pkg}/data/__init__.txt", f"{pkg}/data/values.json"])
