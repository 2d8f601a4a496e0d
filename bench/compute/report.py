"""The markdown report of bench/compute/run.sh, from its JSON-lines results.

    python3 report.py RESULTS.jsonl --command ... --date ... (see run.sh)

Every ratio is computed here from numbers of the same run. wrk figures are the
median over the rounds (each metric on its own); swap and start figures are
nearest-rank percentiles of their samples.
"""

import argparse
import json
import math
import statistics


def pct(values, q):
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)] if s else None


def f(value, digits=2, unit=""):
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{unit}"


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "—"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    for name in (
        "command", "date", "duration", "nproc", "cpu", "memory", "kernel", "strata",
        "node", "python", "peer", "wrk", "params", "quiet", "problems",
    ):
        ap.add_argument(f"--{name}", default="")
    a = ap.parse_args()
    records = [json.loads(line) for line in open(a.results) if line.strip()]

    runs = {}
    for r in records:
        if r["kind"] == "wrk":
            key = (r["target"], r["runtime"], r["path"], int(r["conns"]))
            runs.setdefault(key, []).append(r)

    def wrk(target, runtime, path, conns, metric):
        rows = runs.get((target, runtime, path, conns), [])
        values = [r[metric] for r in rows if r.get(metric) is not None]
        return statistics.median(values) if values else None

    def errors(target, runtime, path):
        rows = [r for k, v in runs.items() if k[:3] == (target, runtime, path) for r in v]
        if not rows:
            return "—"
        non2xx = sum(r["non2xx"] for r in rows)
        sock = sum(r["socket_errors"] for r in rows)
        bad_exit = sum(1 for r in rows if r.get("exit"))
        text = f"{non2xx} / {sock}"
        return text + (f" ({bad_exit} wrk failures)" if bad_exit else "")

    conns = max((k[3] for k in runs), default=32)
    out = []
    w = out.append
    w(f"# Local compute benchmark, one run on {a.date}")
    w("")
    w("`strata dev` against serverless-offline (the peer kit at /work/shared/peers), same machine,")
    w("same run, one after the other. Only the ratios mean anything: the machine is shared and noisy.")
    w("")
    w("Command (from the repository root):")
    w("")
    w("```sh")
    w(a.command)
    w("```")
    w("")
    w(f"- machine: {a.nproc} cores ({a.cpu}), {a.memory} RAM, Linux {a.kernel}")
    w(f"- strata {a.strata} (release build); node {a.node}; {a.python}")
    w(f"- peer: {a.peer}; {a.wrk}")
    w(f"- {a.params}; the whole run took {int(a.duration or 0) // 60} min {int(a.duration or 0) % 60} s")
    w("")
    summary_at = len(out)
    goals = []  # (goal, measured, met)

    w("## 1. Warm requests")
    w("")
    w(f"wrk `-t2 -c{conns}` for throughput and p50/p99 under load, `-t1 -c1` for the latency of one")
    w("request alone; median of the rounds, after a discarded warm-up. `gateway` is the HTTP route")
    w("(GET /hello, GET /py); `invoke` is the same function through the Lambda Invoke API")
    w("(`POST /2015-03-31/functions/{name}/invocations`); `direct` is the floor: a bare HTTP server")
    w("(baseline.js, baseline.py) calling the same handler in its own process. CPU is the CPU time")
    w("the server's processes (Strata: `strata dev` and its workers; serverless-offline: its whole")
    w("process session) used per request, from /proc. Errors are non-2xx answers / socket errors")
    w("over all rounds.")
    w("")
    w(f"| target | runtime | path | req/s c{conns} | p50 ms c{conns} | p99 ms c{conns} | CPU µs/req c{conns} "
      "| p50 ms c1 | p99 ms c1 | req/s c1 | CPU µs/req c1 | errors | req/s c" + str(conns) + " of each round |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    order = [
        ("strata", "gateway"), ("sls", "gateway"), ("sls-inprocess", "gateway"),
        ("strata", "invoke"), ("sls", "invoke"), ("baseline", "direct"),
    ]
    names = {
        "strata": "Strata `strata dev`",
        "sls": "serverless-offline (default)",
        "sls-inprocess": "serverless-offline `--useInProcess`",
        "baseline": "bare HTTP server",
    }
    for runtime in ("node", "python"):
        for target, path in order:
            if not any(k[:3] == (target, runtime, path) for k in runs):
                continue
            w(
                f"| {names[target]} | {runtime} | {path} "
                f"| {f(wrk(target, runtime, path, conns, 'rps'), 0)} "
                f"| {f(wrk(target, runtime, path, conns, 'p50_ms'))} "
                f"| {f(wrk(target, runtime, path, conns, 'p99_ms'))} "
                f"| {f(wrk(target, runtime, path, conns, 'cpu_us_per_request'), 0)} "
                f"| {f(wrk(target, runtime, path, 1, 'p50_ms'), 3)} "
                f"| {f(wrk(target, runtime, path, 1, 'p99_ms'), 3)} "
                f"| {f(wrk(target, runtime, path, 1, 'rps'), 0)} "
                f"| {f(wrk(target, runtime, path, 1, 'cpu_us_per_request'), 0)} "
                f"| {errors(target, runtime, path)} "
                f"| {' / '.join(f(r.get('rps'), 0) for r in runs.get((target, runtime, path, conns), [])) or '—'} |"
            )
    memory = next((r for r in records if r["kind"] == "memory"), None)
    if memory:
        w("")
        w(
            f"Memory after the rounds: Strata {memory['strata_mb']} MB RSS in {memory['strata_processes']} "
            f"processes (strata dev and its workers); serverless-offline {memory['sls_mb']} MB in "
            f"{memory['sls_processes']} processes."
        )
    w("")

    def overhead(target, runtime, path, conns_):
        x = wrk(target, runtime, path, conns_, "p50_ms")
        b = wrk("baseline", runtime, "direct", conns_, "p50_ms")
        return x - b if x is not None and b is not None else None

    def gateway_share(target, runtime):
        g = wrk(target, runtime, "gateway", 1, "p50_ms")
        i = wrk(target, runtime, "invoke", 1, "p50_ms")
        return g - i if g is not None and i is not None else None

    def ms_delta(v):
        return "—" if v is None else f"{v:+.3f} ms"

    w("### Ratios and overhead")
    w("")
    w("p50 overhead = p50 of one request alone (c1) through the gateway minus the p50 of the bare")
    w("HTTP server calling the same handler: everything the local runtime adds to a request (routing,")
    w("the API Gateway event and result mapping, the Runtime API round trip to the worker process,")
    w("JSON both ways). The gateway's own share is gateway minus Invoke API p50 (c1).")
    w("")
    w("| measure | Node | Python | target |")
    w("|---|---|---|---|")
    rps = lambda t, r: wrk(t, r, "gateway", conns, "rps")  # noqa: E731
    w(f"| throughput, Strata / serverless-offline default | {ratio(rps('strata', 'node'), rps('sls', 'node'))} "
      f"| {ratio(rps('strata', 'python'), rps('sls', 'python'))} | ≥ 5x |")
    best = lambda t, r: max((x.get("rps") or 0 for x in runs.get((t, r, "gateway", conns), [])), default=None)  # noqa: E731
    w(f"| throughput, Strata median / serverless-offline default's best round | {ratio(rps('strata', 'node'), best('sls', 'node'))} "
      f"| {ratio(rps('strata', 'python'), best('sls', 'python'))} | |")
    w(f"| throughput, Strata / serverless-offline `--useInProcess` | {ratio(rps('strata', 'node'), rps('sls-inprocess', 'node'))} "
      "| (no such mode) | |")
    w(f"| throughput, Strata / bare HTTP server | {ratio(rps('strata', 'node'), wrk('baseline', 'node', 'direct', conns, 'rps'))} "
      f"| {ratio(rps('strata', 'python'), wrk('baseline', 'python', 'direct', conns, 'rps'))} | |")
    w(f"| p50 overhead, Strata (c1) | {ms_delta(overhead('strata', 'node', 'gateway', 1))} "
      f"| {ms_delta(overhead('strata', 'python', 'gateway', 1))} | < 1 ms |")
    w(f"| of which the gateway (gateway − invoke, c1) | {ms_delta(gateway_share('strata', 'node'))} "
      f"| {ms_delta(gateway_share('strata', 'python'))} | |")
    w(f"| p50 overhead, serverless-offline default (c1) | {ms_delta(overhead('sls', 'node', 'gateway', 1))} "
      f"| {ms_delta(overhead('sls', 'python', 'gateway', 1))} | |")
    w(f"| p50 overhead, serverless-offline `--useInProcess` (c1) | {ms_delta(overhead('sls-inprocess', 'node', 'gateway', 1))} "
      "| | |")
    w(f"| p50 at c{conns} over the bare server, Strata | {ms_delta(overhead('strata', 'node', 'gateway', conns))} "
      f"| {ms_delta(overhead('strata', 'python', 'gateway', conns))} | |")
    cpu = lambda t, r: wrk(t, r, "gateway", conns, "cpu_us_per_request")  # noqa: E731
    w(f"| CPU per request at c{conns}, serverless-offline default / Strata | {ratio(cpu('sls', 'node'), cpu('strata', 'node'))} "
      f"| {ratio(cpu('sls', 'python'), cpu('strata', 'python'))} | |")
    w(f"| CPU per request at c{conns}, serverless-offline `--useInProcess` / Strata | {ratio(cpu('sls-inprocess', 'node'), cpu('strata', 'node'))} "
      "| | |")
    p50 = lambda t, r, c: wrk(t, r, "gateway", c, "p50_ms")  # noqa: E731
    w(f"| p50 c1, serverless-offline default / Strata | {ratio(p50('sls', 'node', 1), p50('strata', 'node', 1))} "
      f"| {ratio(p50('sls', 'python', 1), p50('strata', 'python', 1))} | |")
    w("")
    for runtime in ("node", "python"):
        r = (rps("strata", runtime) or 0) / (rps("sls", runtime) or 1)
        goals.append((f"{runtime}: throughput ≥ 5x serverless-offline (default mode, c{conns})", f"{r:.2f}x", r >= 5))
        o = overhead("strata", runtime, "gateway", 1)
        if o is not None:
            goals.append((f"{runtime}: p50 overhead < 1 ms (c1, over the bare server)", f"{o:+.3f} ms", o < 1))

    w("## 2. Hot swap: save a handler → the new code answers over HTTP")
    w("")
    w("swap.py writes the handler in place with a new marker, then polls the route every 2 ms over")
    w("one keep-alive connection until the marker comes back; the time runs from just before the write.")
    w("`strata dev`'s own line (`swapped in release X in N ms (build A ms, start B ms)`) is the time")
    w("from the end of its 20 ms debounce to the swap; `alone` is a fresh `strata dev` where only the")
    w("measured function has run (a swap starts every function invoked in the live release within")
    w("the last minute); `python-in-use` is the Node loop with one Python request before each save,")
    w("so every swap also starts a Python worker;")
    w("`boto3`: the saved Python handler imports boto3 at the top, as most real handlers do.")
    w("serverless-offline's default mode never reloads (a change needs a restart: section 3);")
    w("`--reloadHandler` loads the handler afresh on every request (a new worker thread, a new Python")
    w("process).")
    w("")
    w("| target | runtime | mode | n | p50 ms | p90 ms | max ms | strata's line p50: total / build / start ms | non-200 while polling | timeouts |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    swaps = [r for r in records if r["kind"] == "swap"]
    swap_p50 = {}
    for r in swaps:
        s = r["samples_ms"]
        rep = r.get("reported") or []
        line = "—"
        if rep:
            line = " / ".join(
                str(pct([x[k] for x in rep], 0.5)) for k in ("total_ms", "build_ms", "start_ms")
            )
        bad = sum(r["non200"].values()) if r["non200"] else 0
        bad_text = f"{bad} of {r['polls']}" + (f" ({r['non200']})" if bad else "")
        if r["conn_errors"]:
            bad_text += f", {r['conn_errors']} connection errors"
        swap_p50[(r["target"], r["runtime"], r["variant"])] = pct(s, 0.5)
        if r["target"] == "strata" and s:
            goals.append((f"{r['runtime']}: hot swap < 100 ms ({r['variant']}), p50 / max",
                          f"{pct(s, 0.5):.0f} / {max(s):.0f} ms", pct(s, 0.5) < 100))
        w(
            f"| {names.get(r['target'], r['target'])} | {r['runtime']} | {r['variant']} | {len(s)} "
            f"| {f(pct(s, 0.5), 1)} | {f(pct(s, 0.9), 1)} | {f(max(s) if s else None, 1)} "
            f"| {line} | {bad_text} | {r['timeouts']} |"
        )
    w("")
    for runtime in ("node", "python"):
        st = swap_p50.get(("strata", runtime, "alone"))
        sl = swap_p50.get(("sls", runtime, "reloadHandler"))
        if st and sl:
            w(f"- {runtime}: serverless-offline `--reloadHandler` p50 / Strata p50 = {ratio(sl, st)} "
              f"({f(sl, 1)} vs {f(st, 1)} ms; above 1x Strata is faster); Strata's target is < 100 ms.")
    st, sl = swap_p50.get(("strata", "python", "alone,boto3")), swap_p50.get(("sls", "python", "reloadHandler,boto3"))
    if st and sl:
        w(f"- python, handler importing boto3: serverless-offline / Strata p50 = {ratio(sl, st)} "
          f"({f(sl, 1)} vs {f(st, 1)} ms).")
    w("")

    w("## 3. Start to first answered request")
    w("")
    w("startup.py starts the server and polls the route every 5 ms (fresh connection) until a 200,")
    w("then stops it (`strata dev`: SIGINT, waiting for the exit; serverless-offline: the kit's")
    w("stop.sh). Strata runs a copy of examples/orders (`GET /orders`, a Python function that queries")
    w("the Orders table through boto3); the `first` start deploys its stateful stack into an empty")
    w("`.strata/`, the others find it deployed. serverless-offline serves its kit service")
    w("(`GET /hello`, Node); one warm-up start is not counted.")
    w("")
    w("| target | starts | n | p50 ms | p90 ms | max ms | `ready in` p50 ms | stop p50 ms | failures |")
    w("|---|---|---|---|---|---|---|---|---|")
    start_p50 = {}
    for r in (r for r in records if r["kind"] == "start"):
        s = r["samples_ms"]
        start_p50[(r["target"], r["variant"])] = pct(s, 0.5)
        w(
            f"| {names.get(r['target'], r['target'])} | {r['variant']} | {len(s)} | {f(pct(s, 0.5), 0)} "
            f"| {f(pct(s, 0.9), 0)} | {f(max(s) if s else None, 0)} | {f(pct(r['ready_ms'], 0.5), 0)} "
            f"| {f(pct(r['stop_ms'], 0.5), 0)} | {'; '.join(r['failures']) or 'none'} |"
        )
    st, sl = start_p50.get(("strata", "warm")), start_p50.get(("sls", "warm"))
    if st:
        goals.append(("examples/orders: start to first answer < 1 s, p50", f"{st:,.0f} ms", st < 1000))
    if st and sl:
        w("")
        w(f"serverless-offline p50 / Strata p50 = {ratio(sl, st)} ({f(sl, 0)} vs {f(st, 0)} ms; above 1x "
          "Strata is faster); Strata's target is < 1 s.")
    w("")

    w("## Machine load during the run")
    w("")
    w("`quiet_check.sh` of the peer kit between phases (load average, other processes above 20 % CPU):")
    w("")
    w("```")
    w(open(a.quiet).read().rstrip() if a.quiet else "")
    w("```")
    w("")
    problems = open(a.problems).read().strip() if a.problems else ""
    w("Lines of `strata dev`'s output mentioning panic, error, failed, refused or timed out")
    w("(count, line): " + ("none." if not problems else ""))
    if problems:
        w("")
        w("```")
        w(problems)
        w("```")
    table = ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    table += [f"| {goal} | {measured} | {'yes' if met else '**no**'} |" for goal, measured, met in goals]
    out[summary_at:summary_at] = [*table, ""]
    print("\n".join(out))


if __name__ == "__main__":
    main()
