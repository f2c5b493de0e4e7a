#!/usr/bin/env python3
"""Markdown table of the device microbenchmarks from Google Benchmark JSON output.

    bazel run -c opt //bench:virtio_blk_bench -- --benchmark_repetitions=3 \\
        --benchmark_report_aggregates_only=true --benchmark_out=/tmp/virtio.json
    bench/micro_table.py /tmp/virtio.json [more.json ...]

One row per benchmark (the median aggregate when repetitions were used, else the single run):
CPU ns, wall ns, requests/s (wall), allocations and interrupts per request.
"""
import json
import re
import sys


def rows(path):
    with open(path) as f:
        data = json.load(f)
    runs = data["benchmarks"]
    have_median = any(r.get("aggregate_name") == "median" for r in runs)
    for r in runs:
        if have_median and r.get("aggregate_name") != "median":
            continue
        if r.get("error_occurred"):
            yield r["run_name"], None
            continue
        yield r["run_name"], r


def short(name):
    name = re.sub(r"^BM_", "", name)
    return name.replace("/real_time", "")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print("| benchmark | CPU ns/req | wall ns/req | req/s (wall) | allocs/req | irqs/req |")
    print("|---|---|---|---|---|---|")
    for path in sys.argv[1:]:
        for name, r in rows(path):
            if r is None:
                print(f"| {short(name)} | error | | | | |")
                continue
            print(f"| {short(name)} | {r['cpu_ns_per_req']:,.0f} | {r['ns_per_req']:,.0f} | "
                  f"{r['req_per_s'] / 1e6:.2f} M | {r['allocs_per_req']:.3g} | {r['irqs_per_req']:.3g} |")


if __name__ == "__main__":
    main()
