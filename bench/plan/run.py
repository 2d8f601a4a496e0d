#!/usr/bin/env python3
"""Plan benchmark: `strata plan` of a generated manifest with 1,000 stateful
resources (and functions using them), end to end through the real binary:
process start, manifest parse and validation, state load under the lock,
the plan, and its rendering (text and --json). Target: under 100 ms; memory
is the peak RSS of the process.

    bench/plan/run.py                 # builds strata (release), writes bench/results/plan.md
    STRATA_BIN=... OUT=- bench/plan/run.py

Scenarios, RUNS each (median and max reported):
  create    empty state: 1,000 resources to create
  no-op     after deploying them: nothing to change
  changes   after deploying them, 100 updated in place, 10 retained, 10 added
  refresh   no-op with --refresh: every resource read back from the target

Environment: RUNS (15), RESOURCES (1000), FUNCTIONS (50), STRATA_BIN, OUT
(bench/results/plan.md; `-` prints only), CARGO_TARGET_DIR."""

import os
import pathlib
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
RUNS = int(os.environ.get("RUNS", "15"))
RESOURCES = int(os.environ.get("RESOURCES", "1000"))
FUNCTIONS = int(os.environ.get("FUNCTIONS", "50"))


def manifest(resources, functions, changed=0, dropped=0, added=0):
    """A service with `resources` stateful resources in equal parts tables,
    buckets, queues and parameters, and `functions` functions each using a
    few of them. `changed` tables get a new index (in place), the last
    `dropped` queues leave the manifest (retained), `added` new parameters."""
    per = resources // 4
    lines = ["service: planbench", "stateful:", "  tables:"]
    for i in range(per):
        index = f", indexes: {{ ByOwner: {{ partition_key: owner:S }} }}" if i < changed else ""
        lines.append(f"    T{i}: {{ partition_key: pk:S, sort_key: sk:N{index} }}")
    lines.append("  buckets:")
    lines += [f"    B{i}: {{ versioning: {'true' if i % 2 else 'false'} }}" for i in range(per)]
    lines.append("  queues:")
    lines += [f"    Q{i}: {{ visibility_timeout: 30 }}" for i in range(per - dropped)]
    lines.append("  parameters:")
    lines += [f"    P{i}: {{ value: v{i} }}" for i in range(resources - 3 * per + added)]
    lines += ["stateless:", "  defaults: { runtime: python3.12, code: src }", "  functions:"]
    for i in range(functions):
        lines.append(
            f"    f{i}: {{ handler: app.handler, uses: {{ T{i}: read_write, B{i}: write, P{i}: read }},"
            f" events: [ {{ http: GET /f{i} }}, {{ queue: Q{i} }} ] }}"
        )
    return "\n".join(lines) + "\n"


def build():
    if os.environ.get("STRATA_BIN"):
        return pathlib.Path(os.environ["STRATA_BIN"])
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "strata-cli"], cwd=REPO, check=True)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "release" / "strata"


def timed(cmd):
    """Wall time (ms) and peak RSS (MB) of one run of `cmd`, through wait4."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = (time.perf_counter() - started) * 1000
    err = proc.stderr.read().decode()
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 2):
        sys.exit(f"{' '.join(map(str, cmd))} exited {code}:\n{err}")
    return elapsed, usage.ru_maxrss / 1024


def measure(strata, service, *args):
    rows = [timed([str(strata), "--dir", str(service), "plan", "--detailed-exitcode", *args]) for _ in range(RUNS + 1)][1:]
    ms = [r[0] for r in rows]
    return statistics.median(ms), max(ms), max(r[1] for r in rows)


def main():
    strata = build()
    work = pathlib.Path(tempfile.mkdtemp(prefix="plan-bench-"))
    service = work / "svc"
    (service / "src").mkdir(parents=True)
    (service / "src" / "app.py").write_text("def handler(event, context):\n    return {}\n")
    (service / "strata.yaml").write_text(manifest(RESOURCES, FUNCTIONS))
    results = []
    results.append(("create", "", *measure(strata, service)))
    results.append(("create", "--json", *measure(strata, service, "--json")))
    started = time.perf_counter()
    subprocess.run([str(strata), "--dir", str(service), "deploy", "--yes"], check=True, stdout=subprocess.DEVNULL)
    deploy_s = time.perf_counter() - started
    results.append(("no-op", "", *measure(strata, service)))
    results.append(("refresh", "--refresh", *measure(strata, service, "--refresh")))
    (service / "strata.yaml").write_text(manifest(RESOURCES, FUNCTIONS, changed=100, dropped=10, added=10))
    results.append(("changes", "", *measure(strata, service)))
    results.append(("changes", "--json", *measure(strata, service, "--json")))
    validate = [timed([str(strata), "--dir", str(service), "validate"]) for _ in range(RUNS)]
    shutil.rmtree(work)

    version = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    load = open("/proc/loadavg").read().split()[:3]
    out = [
        f"# Plan benchmark, one run on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        "Command (from the repository root):",
        "",
        "```sh",
        "bench/plan/run.py",
        "```",
        "",
        f"- machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}; load average at the end {' '.join(load)}",
        f"- strata {version} (release build), local target",
        f"- manifest: {RESOURCES} stateful resources (tables, buckets, queues, parameters in equal parts) and {FUNCTIONS} functions using them; {RUNS} runs per row after one discarded",
        f"- deploying the {RESOURCES} resources first (for the no-op, refresh and changes rows) took {deploy_s:.1f} s",
        "",
        "Each run is the whole `strata plan --detailed-exitcode` process: start, parse and validate",
        "strata.yaml, take the stack's lock, load state, plan, render (text to stdout, or --json).",
        "`changes`: 100 tables get an index (update in place), 10 queues leave the manifest",
        "(retained), 10 parameters are new. `refresh` reads every resource back from the local",
        "target before planning.",
        "",
        "| scenario | flags | p50 ms | max ms | peak RSS MB | target < 100 ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, flags, p50, worst, rss in results:
        met = "yes" if p50 < 100 else "**no**"
        if name == "refresh":
            met = "(not a target: reads the target)"
        out.append(f"| {name} | {flags or '—'} | {p50:.1f} | {worst:.1f} | {rss:.1f} | {met} |")
    vms = statistics.median(v[0] for v in validate)
    out += ["", f"`strata validate` of the same manifest: p50 {vms:.1f} ms, peak RSS {max(v[1] for v in validate):.1f} MB.", ""]
    text = "\n".join(out)
    dest = os.environ.get("OUT", str(REPO / "bench" / "results" / "plan.md"))
    if dest != "-":
        pathlib.Path(dest).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
