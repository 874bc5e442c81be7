"""`make bench`: every benchmark against PostgreSQL, one table, var/bench.json.

Each module's run(scale) returns a flat dict of figures; rates and latencies
are reported next to a baseline measured in the same run (the machine is
shared and noisy, so ratios travel better than absolute numbers).
BENCH_SCALE=small shrinks every data set tenfold.
"""

import importlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = [
    "ingest",
    "reporting",
    "concurrency",
    "webhooks",
    "pipeline",
    "metrics_api",
    "pages",
    "recovery",
    "suppression",
    "attribution",
    "prune",
]


def main() -> int:
    os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tidings_bench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["TIDINGS_PROVIDERS"] = "capture"
    if not os.environ["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
        print("make bench runs against PostgreSQL: set DATABASE_URL=postgres://…", file=sys.stderr)
        return 2
    scale = {"small": 0.1, "": 1.0, "full": 1.0}.get(os.environ.get("BENCH_SCALE", ""))
    if scale is None:
        print("BENCH_SCALE must be 'small' or unset", file=sys.stderr)
        return 2
    unknown = [name for name in sys.argv[1:] if name not in MODULES]
    if unknown:
        # A misspelt name must not silently run every module.
        print(
            f"unknown bench modules: {', '.join(unknown)} (known: {', '.join(MODULES)})",
            file=sys.stderr,
        )
        return 2
    only = sys.argv[1:] or MODULES

    from bench import common

    common.fresh_database()
    figures: dict[str, float] = {}
    for name in only:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bench.{name}":
                print(f"(bench.{name} not present, skipped)")
                continue
            raise
        started = time.monotonic()
        print(f"== {name} (scale {scale}) ==", flush=True)
        result = module.run(scale)
        figures.update(result)
        common.FIGURES.update(result)
        print(f"   done in {time.monotonic() - started:.1f} s", flush=True)
        _save(figures, only)

    width = max(len(key) for key in figures) if figures else 10
    print()
    print(f"{'figure':<{width}}  value")
    for key, value in figures.items():
        print(
            f"{key:<{width}}  {value:,.3f}"
            if isinstance(value, float)
            else f"{key:<{width}}  {value}"
        )
    print(f"\nwritten to {_save(figures, only)}")
    return 0


def _save(figures: dict, only: list[str]) -> Path:
    """var/bench.json after every module, so a module that fails keeps the
    figures of those before it."""
    out = ROOT / "var" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    existing = json.loads(out.read_text()) if out.exists() and only != MODULES else {}
    if only == MODULES and out.exists():
        # A full run starts the file afresh, then keeps its own figures.
        existing = {k: v for k, v in json.loads(out.read_text()).items() if k in figures}
    existing.update(figures)
    out.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
    return out


if __name__ == "__main__":
    sys.exit(main())
