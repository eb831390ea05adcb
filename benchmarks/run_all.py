"""Run every ``benchmarks/bench_*.py`` and write one JSON file per benchmark.

Usage: ``python -m benchmarks.run_all [--quick] [--only NAME] [--outdir out/bench]``. Each
benchmark runs in its own subprocess so peak-RSS numbers are not contaminated by the others.
Results print as JSON and are saved to ``<outdir>/<name>.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import pkgutil
import subprocess
import sys

import benchmarks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--only", help="run only the benchmark with this module name")
    parser.add_argument("--outdir", default="out/bench")
    args = parser.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    names = [m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")]
    if args.only:
        names = [n for n in names if n == args.only]
    failures = 0
    for name in sorted(names):
        code = (
            "import json, sys; from benchmarks import {0} as b; "
            "print('BENCH-JSON ' + json.dumps(b.run(quick={1})))".format(name, args.quick)
        )
        completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        lines = [l for l in completed.stdout.splitlines() if l.startswith("BENCH-JSON ")]
        if completed.returncode != 0 or not lines:
            failures += 1
            print(f"{name}: FAILED\n{completed.stderr[-3000:]}", file=sys.stderr)
            continue
        result = json.loads(lines[-1][len("BENCH-JSON ") :])
        with open(os.path.join(args.outdir, f"{name}.json"), "w") as handle:
            json.dump(result, handle, indent=2)
        print(json.dumps({name: result}, indent=2))
    if not names:
        print("no benchmarks found")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
