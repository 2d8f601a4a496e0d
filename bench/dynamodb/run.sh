#!/usr/bin/env bash
# DynamoDB benchmark: one run against Strata (`strata serve`), dynoxide's own
# HTTP server (the engine without Strata's layer), a moto server and dynalite
# (durable, LevelDB), with the same Rust load generator (32 keep-alive
# connections, reopened when a server closes them). Prints the machine's state,
# a markdown table of throughput and p50/p99 latency per target and mix, the
# ratios the issue sets targets for, then Strata's RSS and data size with
# 1,000,000 items.
#
#   flock /tmp/strata-bench.lock bench/dynamodb/run.sh > bench/results/dynamodb.md
#
# Environment: SECONDS_PER_RUN (10), ITEMS (10000 preloaded), BIG_ITEMS
# (1000000 for the RSS step, 0 skips it), BIG_MAX_SECONDS (900: the RSS step
# loads for at most this long and reports what it loaded), CONNECTIONS (32),
# PEERS (the peer kit, /work/shared/peers), PEERS_WORK (its work folder,
# bench/dynamodb/.work/peers), TARGETS (all five: "strata strata-power dynoxide
# moto dynalite"), CARGO_TARGET_DIR.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
secs="${SECONDS_PER_RUN:-10}"
items="${ITEMS:-10000}"
big="${BIG_ITEMS:-1000000}"
big_max="${BIG_MAX_SECONDS:-900}"
conns="${CONNECTIONS:-32}"
peers="${PEERS:-/work/shared/peers}"
targets="${TARGETS:-strata strata-power dynoxide moto dynalite}"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
tools="$here/.tools"
# The kit's work folder is ours alone, so that its PID files, logs and
# dynalite data never mix with another user's copy of the kit.
export PEERS="$peers" PEERS_WORK="${PEERS_WORK:-$here/.work/peers}"
work="$(mktemp -d "${TMPDIR:-/tmp}/ddb-bench.XXXXXX")"
results="$work/results.jsonl"
log() { echo "$*" >&2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Free ports rather than the kit's defaults: another copy of a peer may hold those.
export MOTO_PORT="${MOTO_PORT:-$(free_port)}" DYNALITE_PORT="${DYNALITE_PORT:-$(free_port)}"

log "== building strata (release) and the load generator"
(cd "$repo" && CARGO_TARGET_DIR="$target_dir" cargo build --release --locked -p strata-cli >&2)
(cd "$here/loadgen" && CARGO_TARGET_DIR="$target_dir" cargo build --release >&2)
strata="$target_dir/release/strata"
loadgen="$target_dir/release/ddb-loadgen"
if [[ ! -x "$tools/bin/dynoxide" ]]; then
  log "== installing dynoxide's server into $tools"
  CARGO_TARGET_DIR="$target_dir" cargo install dynoxide-rs --version 3.2.0 --locked --root "$tools" \
    --no-default-features --features native-sqlite,http-server,cli >&2
fi
if [[ " $targets " == *" moto "* || " $targets " == *" dynalite "* ]]; then
  log "== peers (moto, dynalite)"
  "$peers/setup.sh" >&2
fi

pid=""
stop_target() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid" 2>/dev/null || true; fi
  pid=""
}
cleanup() { stop_target; "$peers/moto/stop.sh" >/dev/null 2>&1 || true; "$peers/dynalite/stop.sh" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

wait_port() {
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "port $1 never opened"; return 1
}

# start_<target> sets $url and, for processes this script owns, $pid.
# start_strata DURABILITY [DATA DIR NAME]
start_strata() {
  local port; port="$(free_port)"
  "$strata" serve --aws-port "$port" --data "$work/${2:-strata-$1}" --durability "$1" >"$work/strata.log" 2>&1 &
  pid=$!; wait_port "$port"; url="http://127.0.0.1:$port"
}
start_dynoxide() {
  local port; port="$(free_port)"
  "$tools/bin/dynoxide" serve --port "$port" --db-path "$work/dynoxide.sqlite" >"$work/dynoxide.log" 2>&1 &
  pid=$!; wait_port "$port"; url="http://127.0.0.1:$port"
}
start_moto() { "$peers/moto/start.sh" >&2; url="http://127.0.0.1:$MOTO_PORT"; wait_port "$MOTO_PORT"; }
start_dynalite() {
  # A fresh LevelDB each run: the kit keeps dynalite's data between runs.
  rm -rf "$PEERS_WORK/dynalite/data"
  "$peers/dynalite/start.sh" >&2; url="http://127.0.0.1:$DYNALITE_PORT"; wait_port "$DYNALITE_PORT"
}
rss_mib() { awk -v k="$2:" '$1 == k {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

load_avg() { cut -d' ' -f1-3 /proc/loadavg; }
echo "Machine: $(nproc) cores, $(uname -sr); load average before the run $(load_avg)."
echo "Strata: release build of $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- crates Cargo.toml Cargo.lock || echo " plus uncommitted changes under crates/")."
echo "Peers: $("$PEERS_WORK/venv/bin/python" -c 'import moto; print("moto", moto.__version__)' 2>/dev/null || echo "moto ?"), dynalite $(node -p "require('$PEERS_WORK/dynalite/node_modules/dynalite/package.json').version" 2>/dev/null || echo "?"), dynoxide-rs 3.2.0 (its binary says: $("$tools/bin/dynoxide" --version 2>/dev/null | head -1 || true))."
echo "Each mix: $conns connections, ${secs} s, $items items preloaded."
echo
echo "| target | durability | mix | ok requests | errors | reconnects | req/s | p50 ms | p99 ms |"
echo "|---|---|---|---|---|---|---|---|---|"
for target in $targets; do
  case "$target" in
    strata) start_strata process; durability="process (WAL, synchronous=NORMAL)";;
    strata-power) start_strata power; durability="power (WAL, synchronous=FULL)";;
    dynoxide) start_dynoxide; durability="as shipped (synchronous=FULL)";;
    moto) start_moto; durability="none (memory)";;
    dynalite) start_dynalite; durability="LevelDB, no fsync";;
    *) log "unknown target $target"; exit 1;;
  esac
  log "== $target at $url: setup ($items items)"
  "$loadgen" setup --url "$url" --items "$items" --connections "$conns" >&2
  for mix in put get query mixed; do
    line="$("$loadgen" run --url "$url" --mix "$mix" --seconds "$secs" --connections "$conns" --items "$items")"
    log "$target $line (load average $(load_avg))"
    python3 - "$target" "$durability" "$line" "$results" <<'PY'
import json, sys
target, durability, line, results = sys.argv[1:5]
r = json.loads(line)
print(f"| {target} | {durability} | {r['mix']} | {r['ok']} | {r['errors']} | {r['reconnects']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |")
with open(results, "a") as f:
    f.write(json.dumps({"target": target, **r}) + "\n")
PY
  done
  case "$target" in
    moto) "$peers/moto/stop.sh" >&2;;
    dynalite) "$peers/dynalite/stop.sh" >&2;;
    *) stop_target;;
  esac
done
echo
echo "Load average after the targets: $(load_avg). \`reconnects\`: connections the load generator had to reopen because the server closed them (a request that met a closed connection was sent again on the new one, its latency including the reconnect)."

# The ratios the issue sets targets for, from the rows above (req/s of the
# first target over the second; "-" where a target did not run).
echo
python3 - "$results" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    rows[(r["target"], r["mix"])] = r
mixes = ["put", "get", "query", "mixed"]
def ratio(a, b, mix):
    if (a, mix) not in rows or (b, mix) not in rows or rows[(b, mix)]["rps"] == 0:
        return "-"
    return f"{rows[(a, mix)]['rps'] / rows[(b, mix)]['rps']:.2f}x"
print("| throughput ratio | target | " + " | ".join(mixes) + " |")
print("|---|---|" + "---|" * len(mixes))
for a, b, goal in [
    ("strata-power", "dynoxide", "> 0.90x (under 10% overhead, same durability)"),
    ("strata", "dynoxide", "(Strata's default durability against dynoxide's fsync per commit)"),
    ("strata", "moto", "5x"),
    ("strata", "dynalite", "2x"),
]:
    print(f"| {a} / {b} | {goal} | " + " | ".join(ratio(a, b, m) for m in mixes) + " |")
PY

if [[ "$big" -gt 0 ]]; then
  start_strata process strata-big
  log "== strata: preload $big items for RSS (at most ${big_max} s)"
  base_rss="$(rss_mib "$pid" VmRSS)"
  setup="$("$loadgen" setup --url "$url" --items "$big" --connections "$conns" --max-seconds "$big_max")"
  log "strata big setup $setup"
  loaded="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["loaded"])' "$setup")"
  load_rss="$(rss_mib "$pid" VmRSS)"
  line="$("$loadgen" run --url "$url" --mix get --seconds "$secs" --connections "$conns" --items "$loaded")"
  log "strata big get $line"
  rss="$(rss_mib "$pid" VmRSS)"
  hwm="$(rss_mib "$pid" VmHWM)"
  size="$(du -sk "$work/strata-big" | cut -f1)"
  stop_target
  # After a clean stop the WAL is checkpointed: the size a restart opens.
  closed="$(du -sk "$work/strata-big" | cut -f1)"
  python3 - "$big" "$setup" "$line" "$base_rss" "$load_rss" "$rss" "$hwm" "$size" "$closed" <<'PY'
import json, sys
big = int(sys.argv[1])
s, g = json.loads(sys.argv[2]), json.loads(sys.argv[3])
base, load, rss, hwm, size, closed = (int(x) for x in sys.argv[4:10])
print()
print(f"Strata (`process` durability) with {s['loaded']:,} of {big:,} items loaded (~150 B each, "
      f"BatchWriteItem of 25 over {g['connections']} connections): load took {s['seconds']} s "
      f"({s['items_per_s']:,.0f} items/s).")
print()
print("| measure | value |")
print("|---|---|")
print(f"| RSS of `strata serve` at start, empty | {base} MiB |")
print(f"| RSS after the load | {load} MiB |")
print(f"| RSS after a {g['seconds']} s GetItem run over all items | {rss} MiB |")
print(f"| peak RSS (VmHWM) | {hwm} MiB |")
print(f"| data directory while running (with WAL) | {size / 1024:.0f} MiB |")
print(f"| data directory after a clean stop | {closed / 1024:.0f} MiB |")
print(f"| GetItem over the big table | {g['rps']:.0f} req/s, p50 {g['p50_ms']:.2f} ms, p99 {g['p99_ms']:.2f} ms, {g['errors']} errors |")
PY
fi
echo
echo "Load average at the end: $(load_avg)."
