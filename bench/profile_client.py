"""Profile one of the trio clients at the concurrent workload, with pyinstrument.

    .venv/bin/python bench/profile_client.py                 # ours, serve()
    .venv/bin/python bench/profile_client.py --client floor  # or facade
    .venv/bin/python bench/profile_client.py --quick         # 200 calls at 50
    .venv/bin/python bench/profile_client.py --workload serial  # one call at a time
    .venv/bin/python bench/profile_client.py --memory        # tracemalloc, idle calls

Writes the full call tree to ``bench/out/profile_<client>_<workload>.txt``
and a summary (self time by library, top functions) to
``bench/out/profile_<client>_<workload>_summary.json``, and prints the summary. With
``--memory``: tracemalloc over the idle workload, the memory one parked call
holds by allocation site (``bench/out/memory_<client>_idle.json``).
``run.py`` does the same for ``trio`` at the end of the full bench and puts
the summary in ``RESULTS.md``. (Not named ``profile.py``: scripts in this
folder run with it on ``sys.path``, and that name would shadow the stdlib
module ``cProfile`` imports.)
"""

from __future__ import annotations

import argparse
import sys

import run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--client", choices=("trio", "facade", "floor"), default="trio")
    parser.add_argument("--workload", choices=("concurrent", "serial"), default="concurrent")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--plays", type=int, default=None)
    parser.add_argument(
        "--memory", action="store_true", help="tracemalloc over the idle workload instead"
    )
    options = parser.parse_args()
    argv = ["--clients", options.client, "--workloads", f"{options.workload},idle"]
    if options.quick:
        argv.append("--quick")
    if options.plays is not None:
        argv += ["--plays", str(options.plays)]
    bench = run.Bench(run.parse_args(argv))
    try:
        bench.prepare()
        if options.memory:
            memory = run.run_memory_profile(bench, options.client)
        else:
            summary = run.run_profile(bench, options.client, options.workload)
    except run.BenchError as exc:
        print(f"profile failed:\n{exc}", file=sys.stderr)
        return 1
    finally:
        run._kill_all()
    if options.memory:
        print(f"{memory['bytes_per_unit']:.0f} bytes held per idle call (tracemalloc), by library:")
        for name, size in memory["groups"]:
            print(f"  {size:8.0f} B  {name}")
        print("by site:")
        for site, size, count in memory["top"]:
            print(f"  {size:8.0f} B  {count:5.1f} blocks  {site}")
        return 0
    total = summary["busy_s"] or 1.0
    print(
        f"{summary['calls']} calls at {summary['concurrency']} concurrent; "
        f"{summary['total_s']:.2f} s sampled, {summary['idle_s']:.2f} s idle in epoll; "
        f"shares of the busy time; tree in {summary['path']}"
    )
    for name, seconds in summary["groups"]:
        print(f"  {seconds / total:6.1%}  {name}")
    print("top functions by self time:")
    for name, seconds in summary["top_functions"]:
        print(f"  {seconds / total:6.1%}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
