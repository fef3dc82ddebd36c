#!/usr/bin/python3
"""Run Parley's benchmarks and write bench/results/latest.json.

Each benchmark is a module in bench/ with run(args) -> dict (and optionally
add_arguments(parser)). A module that is not there is skipped, so the set
can grow without touching this file beyond the MODULES list.

    /usr/bin/python3 bench/run.py --parley ./parley [--only irc] [--quick]
"""

import argparse
import datetime
import importlib
import json
import os
import platform
import sys
import time
import traceback

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__

HERE = os.path.dirname(os.path.abspath(__file__))
# (name for --only, module file in bench/ without .py)
MODULES = [("irc", "irc_bench"), ("mastodon", "mastodon_bench"),
           ("history", "history_bench"), ("bluesky", "bluesky_bench"),
           ("relay", "relay_bench"), ("scale", "scale_bench")]


def read_first(path, prefix=None):
    try:
        with open(path) as f:
            for line in f:
                if prefix is None:
                    return line.strip()
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine():
    return {
        "nproc": os.cpu_count(),
        "cpu": read_first("/proc/cpuinfo", "model name"),
        "kernel": platform.release(),
        "debian": read_first("/etc/debian_version"),
        "python": platform.python_version(),
        "loadavg": read_first("/proc/loadavg"),
        "date": datetime.datetime.now(datetime.timezone.utc)
        .strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def load_modules(wanted):
    """Import the selected modules; missing ones are reported, not fatal."""
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    loaded = []
    for name, modname in MODULES:
        if wanted and name not in wanted:
            continue
        if not os.path.exists(os.path.join(HERE, modname + ".py")):
            loaded.append((name, None, "not present"))
            continue
        try:
            mod = importlib.import_module(modname)
        except Exception:  # a broken module must not stop the others
            loaded.append((name, None, "import failed:\n" +
                           traceback.format_exc()))
            continue
        if not callable(getattr(mod, "run", None)):
            loaded.append((name, None, "has no run(args)"))
            continue
        loaded.append((name, mod, None))
    return loaded


def main(argv=None):
    names = [n for n, _ in MODULES]
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--only", default="")
    known, _ = pre.parse_known_args(argv)
    wanted = [w.strip() for w in known.only.split(",") if w.strip()]
    unknown = [w for w in wanted if w not in names]
    if unknown:
        print(f"run.py: unknown benchmark {unknown}; known: {names}",
              file=sys.stderr)
        return 2
    loaded = load_modules(wanted)

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parley", default=os.path.join(HERE, "..", "parley"),
                   help="the parley binary to measure")
    p.add_argument("--only", default="",
                   help="comma-separated subset of: " + ", ".join(names))
    p.add_argument("--quick", action="store_true",
                   help="small sizes, for checking the benchmark itself")
    p.add_argument("--out", default=os.path.join(HERE, "results",
                                                 "latest.json"),
                   help="where to write the JSON results")
    for _, mod, _ in loaded:
        if mod is not None and hasattr(mod, "add_arguments"):
            mod.add_arguments(p)
    args = p.parse_args(argv)
    args.parley = os.path.abspath(args.parley)
    if not os.access(args.parley, os.X_OK):
        print(f"run.py: {args.parley} is not an executable (make parley)",
              file=sys.stderr)
        return 2

    m = machine()
    print(f"Parley benchmarks  {m['date']}")
    print(f"machine: {m['nproc']} CPUs, {m['cpu']}; kernel {m['kernel']}; "
          f"Debian {m['debian']}; Python {m['python']}")
    print(f"load average at start: {m['loadavg']} (other work on the machine "
          "skews wall-clock figures; CPU-per-unit figures less so)")
    print(f"parley: {args.parley}")
    if m["nproc"] and m["nproc"] < 4:
        print(f"note: {m['nproc']} CPUs; the servers share them with the "
              "benchmark's own clients, so absolute numbers are modest; "
              "the ratios are the point.")
    print()

    results = {"machine": m, "parley": args.parley, "quick": args.quick,
               "benchmarks": {}}
    failed = False
    for name, mod, why in loaded:
        if mod is None:
            print(f"[{name}] skipped: {why}\n")
            results["benchmarks"][name] = {"skipped": why}
            if why.startswith("import failed"):
                failed = True
            continue
        print(f"[{name}]", flush=True)
        t0 = time.monotonic()
        try:
            r = mod.run(args)
        except KeyboardInterrupt:
            raise
        except Exception as e:
            traceback.print_exc()
            r = {"error": f"{type(e).__name__}: {e}"}
            failed = True
        if not isinstance(r, dict):
            r = {"result": r}
        r.setdefault("wall_seconds", round(time.monotonic() - t0, 1))
        if r.get("ok") is False:
            failed = True
            print(f"[{name}] FAILED checks (see above)")
        print(f"[{name}] {r['wall_seconds']:.0f}s\n")
        results["benchmarks"][name] = r

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, args.out)
    print(f"results: {os.path.relpath(args.out)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
