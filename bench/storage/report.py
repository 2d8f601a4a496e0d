"""Render bench/storage's results (JSON lines from the load generator, tagged
with the target) as the markdown report run.sh prints.

    python3 report.py RESULTS.jsonl key=value...

Keys: command, started, minutes, load_before, load_after, connections,
seconds, big, depths, durability, moto, strata_rev, machine. Standard library only.
"""

import json
import sys

TARGET = 5.0
NAMES = {"strata": "Strata", "moto": "moto"}


def main() -> None:
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    meta = dict(arg.split("=", 1) for arg in sys.argv[2:])
    big = int(meta["big"])
    big_label = f"{big / 1048576:g} MB" if big % 1048576 == 0 else f"{big} B"
    steps = [
        ("s3-put-1024", "S3 PUT 1 KB", "ops/s", True),
        ("s3-get-1024", "S3 GET 1 KB", "ops/s", True),
        (f"s3-put-{big}", f"S3 PUT {big_label}", "ops/s", True),
        (f"s3-get-{big}", f"S3 GET {big_label}", "ops/s", True),
        ("sqs-send", "SQS SendMessage", "messages/s", False),
    ]
    depths = [int(d) for d in meta["depths"].split(",")]
    if int(meta.get("deep", "0")) > 0:
        depths.append(int(meta["deep"]))
    for d in depths:
        steps += [
            (f"sqs-receive-{d}", f"SQS ReceiveMessage (10 a call), {d:,} queued", "messages/s", False),
            (f"sqs-delete-{d}", f"SQS DeleteMessage, {d:,} received", "messages/s", False),
        ]
    by = {(r["target"], r["step"]): r for r in rows}
    targets = [t for t in NAMES if any(r["target"] == t for r in rows)]

    out = []
    p = out.append
    p(f"# Storage benchmark (S3, SQS), one run on {meta['started']}")
    p("")
    p(f"`strata serve` (durability `{meta['durability']}`: SQLite in WAL mode, object bytes in")
    p("files; it survives `kill -9`) against a moto server (the peer kit at /work/shared/peers,")
    p("everything in memory), same machine, same run, one after the other. Only the ratios mean")
    p("anything: the machine is shared and noisy.")
    p("")
    p("Command (from the repository root):")
    p("")
    p("```sh")
    p(meta["command"])
    p("```")
    p("")
    p(f"- machine: {meta['machine']}; load average (1, 5, 15 min) {meta['load_before']} before")
    p(f"  the run, {meta['load_after']} after; the run took about {meta['minutes']} min")
    p(f"- strata: release build of the working tree at {meta['strata_rev']}; moto {meta['moto']}")
    p(f"- load generator: bench/storage/loadgen (Rust, hyper), {meta['connections']} keep-alive")
    p(f"  connections for both servers, {meta['seconds']} s per step, unsigned requests with a fixed")
    p("  SigV4 `Authorization` header, S3 path-style, SQS JSON protocol. It shares the 2 cores")
    p("  with the server; its own CPU time is in the details.")
    p("- S3: PUT cycles over 1,000 keys per connection (1 KB) or 2 (big objects, so a step")
    p("  overwrites instead of filling the disk), then GET reads random keys the PUT step wrote")
    p("  and checks each body's length. SQS: 128-byte messages sent one per call to one queue;")
    p("  then, for each depth, a fresh queue is filled with that many messages (SendMessageBatch,")
    p("  not timed), received with MaxNumberOfMessages 10 and a visibility timeout of an hour")
    p("  until drained (or the step's time is up), every receipt handle deleted, one call each,")
    p("  and GetQueueAttributes must show nothing left in flight. Same depths on both servers,")
    p("  because a receive's cost can grow with what is queued.")
    p("")

    p("## Against the target (Strata ≥ 5x moto)")
    p("")
    p("| operation | Strata | moto | Strata / moto | 5x met |")
    p("|---|---|---|---|---|")
    for key, label, unit, is_s3 in steps:
        s, m = by.get(("strata", key)), by.get(("moto", key))

        def cell(r):
            if r is None:
                return "—"
            text = f"{r['per_s']:,.0f} {unit}"
            if is_s3:
                text += f", {r['mb_s']:,.1f} MB/s"
            return text

        if s and m and m["per_s"] > 0 and s["errors"] == 0:
            ratio = s["per_s"] / m["per_s"]
            ratio_text, met = f"{ratio:.2f}x", ("yes" if ratio >= TARGET else "**no**")
        elif s and not m:
            ratio_text, met = "—", "Strata only"
        else:
            ratio_text, met = "—", "not measured"
        p(f"| {label} | {cell(s)} | {cell(m)} | {ratio_text} | {met} |")
    p("")

    p("## Details")
    p("")
    p("`requests` are HTTP calls (a receive step includes its final empty polls); `items` are what")
    p("the rate counts (requests, or messages received); `errors` are wrong answers or requests")
    p("that failed after three new connections; `connects` are TCP connections opened (moto answers")
    p("every request with `Connection: close`, so it gets one per request); `retries` are")
    p("requests sent again on a new connection after a failure. CPU is user + system time of the server process and of the load generator")
    p("during the step, from /proc; `server µs/item` is the server's CPU per item.")
    p("")
    p("| target | step | s | requests | items | errors | connects | retries | items/s | MB/s | p50 ms | p99 ms | server CPU s | server µs/item | client CPU s |")
    p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for t in targets:
        for key, label, _, _ in steps:
            r = by.get((t, key))
            if r is None:
                continue
            cpu = r.get("server_cpu_s")
            per = f"{cpu / r['items'] * 1e6:,.0f}" if cpu is not None and r["items"] else "—"
            p(
                f"| {NAMES[t]} | {label} | {r['seconds']:.1f} | {r['requests']:,} | {r['items']:,} "
                f"| {r['errors']} | {r['connects']:,} | {r['retries']} | {r['per_s']:,.0f} | {r['mb_s']:,.1f} "
                f"| {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {fmt(cpu)} | {per} | {fmt(r.get('client_cpu_s'))} |"
            )
    p("")
    errors = [(t, k, by[(t, k)]["first_error"]) for t in targets for k, *_ in steps
              if (t, k) in by and by[(t, k)].get("first_error")]
    for t, k, e in errors:
        p(f"- first error, {NAMES[t]} {k}: `{e}`")
    if errors:
        p("")

    p("Checks:")
    p("")
    checks = [(t, d, by.get((t, f"sqs-check-{d}"))) for t in targets for d in depths]
    for t, d, c in checks:
        if c:
            verdict = "passed" if c["ok"] else "**FAILED**"
            p(
                f"- {NAMES[t]} SQS, {d:,} queued, {verdict}: {c['received']:,} received "
                f"({c['unique']:,} distinct), {c['deleted']:,} deleted; left visible "
                f"{c['left_visible']}, left in flight {c['left_in_flight']}"
            )
    for t in targets:
        rss = by.get((t, "rss"))
        load = by.get((t, "load"))
        extra = []
        if rss:
            extra.append(f"RSS {rss['kb'] // 1024} MB after its steps")
        if load:
            extra.append(f"load average {load['before']} before its first step")
        if extra:
            p(f"- {NAMES[t]}: " + "; ".join(extra))
    print("\n".join(out))


def fmt(value) -> str:
    return "—" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    main()
