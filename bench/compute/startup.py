"""Start to first answered request: start a server, poll URL until it answers
200, stop it, N times. Appends one JSON record to RESULTS.jsonl.

    python3 startup.py RESULTS.jsonl KEY=VALUE... --url URL --runs N
        (--spawn 'CMD' [--log-dir DIR] | --start 'CMD' --stop 'CMD')

--spawn runs CMD as a child (its stdout to DIR/start-<i>.log), stops it with
SIGINT and waits for it to exit (the stop time is recorded; after 20 s it is
killed and counted). --start/--stop run shell commands that start and stop a
server in the background (the peer kit's scripts); the time runs from calling
--start. URL is polled with a fresh connection every 5 ms. For `strata dev`,
the `ready in N ms` line it prints is read from the log too.
"""

import argparse
import http.client
import json
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

READY = re.compile(r"ready in (\d+) ms")


def answers_200(host, port, path):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def port_closed(host, port, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.2).close()
        except OSError:
            return True
        time.sleep(0.05)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("labels", nargs="*")
    ap.add_argument("--url", required=True)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--spawn")
    ap.add_argument("--log-dir", default=".")
    ap.add_argument("--start")
    ap.add_argument("--stop")
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_intermixed_args()
    labels = dict(arg.split("=", 1) for arg in a.labels)
    url = urllib.parse.urlparse(a.url)
    host, port, path = url.hostname, url.port, url.path
    samples, ready, stops, failures = [], [], [], []
    for run in range(a.runs):
        if not port_closed(host, port):
            sys.exit(f"startup: {host}:{port} is still taken before run {run}")
        log = f"{a.log_dir}/start-{labels.get('target', 'x')}-{run}.log"
        start = time.perf_counter()
        if a.spawn:
            with open(log, "w") as out:
                child = subprocess.Popen(shlex.split(a.spawn), stdout=out, stderr=subprocess.STDOUT)
        else:
            subprocess.run(a.start, shell=True, check=True, stdout=subprocess.DEVNULL)
        while not answers_200(host, port, path):
            if time.perf_counter() - start > a.timeout:
                failures.append(f"run {run}: no 200 within {a.timeout} s")
                break
            time.sleep(0.005)
        else:
            samples.append(round((time.perf_counter() - start) * 1000, 1))
        if a.spawn:
            stopping = time.perf_counter()
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
                failures.append(f"run {run}: did not exit within 20 s of SIGINT (killed)")
            stops.append(round((time.perf_counter() - stopping) * 1000, 1))
            if child.returncode not in (0, -signal.SIGINT):
                failures.append(f"run {run}: exit status {child.returncode}")
            with open(log, errors="replace") as f:
                if m := READY.search(f.read()):
                    ready.append(int(m.group(1)))
        else:
            subprocess.run(a.stop, shell=True, stdout=subprocess.DEVNULL)
    record = {
        "kind": "start",
        **labels,
        "samples_ms": samples,
        "ready_ms": ready,
        "stop_ms": stops,
        "failures": failures,
    }
    with open(a.results, "a") as f:
        f.write(json.dumps(record) + "\n")
    s = sorted(samples)
    print(
        f"start {labels}: n={len(s)} p50 {s[len(s) // 2] if s else None} ms, max {s[-1] if s else None} ms, "
        f"failures {failures}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
