"""Run wrk once and append its numbers to a JSON-lines file.

    python3 wrk.py RESULTS.jsonl RAW.txt KEY=VALUE... [cpu="CMD"] -- WRK_ARGS...

The KEY=VALUE pairs label the record (target, runtime, path, conns, round);
the raw wrk output is kept in RAW.txt. The record has req/s, p50/p99 in ms
(`--latency` is added), the request count, non-2xx answers and socket errors.
With cpu=CMD (a shell command printing the PIDs of the server's processes,
run before and after wrk), it also has the CPU time those processes used per
request: a figure that depends far less on what else the machine runs than
throughput does. A process that exits during the run is not counted.
"""

import json
import os
import re
import subprocess
import sys

TICK = os.sysconf("SC_CLK_TCK")

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def parse(out):
    record = {}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", out):
        record["rps"] = float(m.group(1))
    if m := re.search(r"(\d+) requests in ([\d.]+)(\w+)", out):
        record["requests"] = int(m.group(1))
    for pct in ("50", "75", "90", "99"):
        if m := re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M):
            record[f"p{pct}_ms"] = ms(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    record["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    record["socket_errors"] = sum(int(g) for g in m.groups()) if m else 0
    return record


def cpu_seconds(cmd):
    """utime + stime of every process CMD names, by PID."""
    pids = subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.split()
    total = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total[pid] = (int(fields[11]) + int(fields[12])) / TICK
    return total


def main():
    results, raw = sys.argv[1], sys.argv[2]
    split = sys.argv.index("--")
    labels = dict(arg.split("=", 1) for arg in sys.argv[3:split])
    cpu_cmd = labels.pop("cpu", None)
    args = sys.argv[split + 1 :]
    before = cpu_seconds(cpu_cmd) if cpu_cmd else {}
    done = subprocess.run(["wrk", "--latency", *args], capture_output=True, text=True)
    after = cpu_seconds(cpu_cmd) if cpu_cmd else {}
    out = done.stdout + done.stderr
    with open(raw, "w") as f:
        f.write(" ".join(["wrk", "--latency", *args]) + "\n" + out)
    record = {"kind": "wrk", **labels, **parse(out), "exit": done.returncode}
    if cpu_cmd and record.get("requests"):
        used = sum(t - before.get(pid, 0.0) for pid, t in after.items())
        record["cpu_us_per_request"] = round(used / record["requests"] * 1e6, 1)
    with open(results, "a") as f:
        f.write(json.dumps(record) + "\n")
    print(
        f"{labels}: {record.get('rps', 0):.0f} req/s, p50 {record.get('p50_ms')} ms, "
        f"p99 {record.get('p99_ms')} ms, non-2xx {record['non2xx']}, socket errors {record['socket_errors']}, "
        f"CPU {record.get('cpu_us_per_request')} us/request",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
