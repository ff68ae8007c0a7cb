"""Time of an environment build on the local backend: a first build that installs a
requirement, then a cached one (a second Function with the same requirements).

Run: ``python bench/build.py [--requirement idna]``. It uses a fresh SKYRUN_HOME in a
temporary directory, so the first build is really a first build.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requirement", default="idna",
                        help="a small package to install (default idna)")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="skyrun-bench-build-")
    os.environ["SKYRUN_HOME"] = home
    os.environ.setdefault("SKYRUN_WORKER_IDLE_SECONDS", "2")
    from skyrun.compute import Function, FunctionStatus

    def noop():
        return None

    def build() -> tuple[float, Function]:
        start = time.perf_counter()
        fn = Function(noop, requirements=[args.requirement])
        fn.save()
        while fn.status in (FunctionStatus.BUILDING, FunctionStatus.AWAITING_BUNDLE):
            time.sleep(0.02)
            fn.refresh()
        elapsed = time.perf_counter() - start
        if fn.status != FunctionStatus.READY:
            sys.exit(f"build failed:\n{fn.build_log()}")
        return elapsed, fn

    first, fn1 = build()
    cached, fn2 = build()
    print(f"python {sys.version_info.major}.{sys.version_info.minor}, requirement "
          f"{args.requirement!r}, SKYRUN_HOME {home}")
    print(f"first build (venv + pip install + runtime links): {first:8.3f} s")
    print(f"cached build (second Function, same requirements): {cached:8.3f} s")
    print(f"ratio first / cached: {first / cached:.0f}x")
    for fn in (fn1, fn2):
        fn.delete()
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
