"""Run every benchmark in one process: ``python benchmarks/run_all.py [--quick]``.

Each script prints its own header (torch version, machine) and its ratio lines.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    "bench_param_groups",
    "bench_lr_curve",
    "bench_optimizer_step",
    "bench_muon_step",
    "bench_normuon_step",
    "bench_scheduler_step",
    "bench_hyper_schedules",
    "bench_muon_distributed",
    "muon_scaling",
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI-sized runs")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    failed = []
    for name in SCRIPTS:
        spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        rc = module.main(["--quick"] if args.quick else [])
        if rc != 0:
            failed.append(name)
        print(flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
