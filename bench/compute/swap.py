"""Hot swap latency: from saving a handler file to the new code answering
over HTTP. Appends one JSON record to RESULTS.jsonl.

    python3 swap.py RESULTS.jsonl --url URL --file HANDLER --runtime node|python
        [--reps 20] [--interval-ms 2] [--log STRATA_LOG] [--import-boto3] [--also URL] KEY=VALUE...

Each repetition writes the handler in place (open, write, close, as an editor
saves) with a new marker in its body, then polls URL over one keep-alive
connection every --interval-ms until the body is the marker. The time runs
from just before the write to the answer carrying the marker. With --log (the
stdout of `strata dev`), the `swapped in release X in N ms (build A ms, start
B ms)` line of that swap is read too. Answers other than 200 while polling
are counted: a swap must not fail a request. --also URL is requested once
before each save, so that function counts as in use (a swap warms the
functions invoked in the live release within the last minute).
"""

import argparse
import http.client
import json
import os
import re
import sys
import time
import urllib.parse

TEMPLATES = {
    "node": "'use strict';\nmodule.exports.hello = async () => ({{ statusCode: 200, body: '{marker}' }});\n",
    "python": 'def py(event, context):\n    return {{"statusCode": 200, "body": "{marker}"}}\n',
}
SWAPPED = re.compile(r"swapped in release (\S+) in (\d+) ms \(build (\d+) ms, start (\d+) ms\)")


class Poller:
    def __init__(self, url):
        parsed = urllib.parse.urlparse(url)
        self.host, self.port, self.path = parsed.hostname, parsed.port, parsed.path
        self.conn = None
        self.statuses = {}
        self.conn_errors = 0
        self.requests = 0

    def get(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            self.conn.request("GET", self.path)
            response = self.conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            self.conn_errors += 1
            return None, b""
        self.requests += 1
        if response.status != 200:
            self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
        return response.status, body


def swapped_lines(log):
    if not log:
        return []
    with open(log, errors="replace") as f:
        return SWAPPED.findall(f.read())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("labels", nargs="*")
    ap.add_argument("--url", required=True)
    ap.add_argument("--file", required=True)
    ap.add_argument("--runtime", choices=TEMPLATES, required=True)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--interval-ms", type=float, default=2.0)
    ap.add_argument("--timeout", type=float, default=15.0)
    ap.add_argument("--settle", type=float, default=0.3)
    ap.add_argument("--log")
    ap.add_argument("--also", help="a route GET once before each save, so its function is in use too")
    ap.add_argument("--import-boto3", action="store_true", help="the Python handler imports boto3, as most do")
    a = ap.parse_intermixed_args()
    labels = dict(arg.split("=", 1) for arg in a.labels)
    poller = Poller(a.url)
    status, body = poller.get()
    if status != 200:
        sys.exit(f"swap: {a.url} answers {status} before the loop")
    samples, reported, timeouts = [], [], 0
    prefix = "import boto3  # noqa: F401\n" if a.import_boto3 else ""
    other = Poller(a.also) if a.also else None
    for rep in range(a.reps):
        seen = len(swapped_lines(a.log))
        marker = f"swap-{rep}-{os.urandom(4).hex()}"
        if other and other.get()[0] != 200:
            sys.exit(f"swap: {a.also} does not answer 200")
        start = time.perf_counter()
        with open(a.file, "w") as f:
            f.write(prefix + TEMPLATES[a.runtime].format(marker=marker))
        deadline = start + a.timeout
        while True:
            status, body = poller.get()
            now = time.perf_counter()
            if status == 200 and body.decode(errors="replace") == marker:
                samples.append((now - start) * 1000)
                break
            if now > deadline:
                timeouts += 1
                break
            time.sleep(a.interval_ms / 1000)
        # Wait for strata's own line about this swap, then let the old
        # release's workers wind down before the next save.
        while a.log and time.perf_counter() < deadline:
            lines = swapped_lines(a.log)
            if len(lines) > seen:
                _, total, build, started = lines[-1]
                reported.append({"total_ms": int(total), "build_ms": int(build), "start_ms": int(started)})
                break
            time.sleep(0.01)
        time.sleep(a.settle)
    record = {
        "kind": "swap",
        **labels,
        "runtime": a.runtime,
        "samples_ms": [round(s, 2) for s in samples],
        "reported": reported,
        "timeouts": timeouts,
        "polls": poller.requests,
        "non200": poller.statuses,
        "conn_errors": poller.conn_errors,
    }
    with open(a.results, "a") as f:
        f.write(json.dumps(record) + "\n")
    s = sorted(samples)
    if s:
        print(
            f"swap {labels} {a.runtime}: n={len(s)} p50 {s[len(s) // 2]:.1f} ms max {s[-1]:.1f} ms, "
            f"timeouts {timeouts}, non-200 {poller.statuses}, connection errors {poller.conn_errors}",
            file=sys.stderr,
        )
    else:
        print(f"swap {labels} {a.runtime}: no sample (timeouts {timeouts})", file=sys.stderr)


if __name__ == "__main__":
    main()
