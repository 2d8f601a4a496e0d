#!/usr/bin/env bash
# DynamoDB benchmark: one run against Strata (`strata serve`), dynoxide's own
# HTTP server (the engine without Strata's layer), a moto server and dynalite
# (durable, LevelDB), with the same Rust load generator (32 keep-alive
# connections). Prints a markdown table of throughput and p50/p99 latency per
# target and mix, then Strata's RSS with 1,000,000 items.
#
#   bench/dynamodb/run.sh > bench/results/dynamodb.md
#
# Environment: SECONDS_PER_RUN (10), ITEMS (10000 preloaded), BIG_ITEMS
# (1000000 for the RSS run, 0 skips it), CONNECTIONS (32), PEERS (the peer kit,
# /work/shared/peers), PEERS_WORK (its work folder), TARGETS (all four:
# "strata strata-power dynoxide moto dynalite"), CARGO_TARGET_DIR.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
secs="${SECONDS_PER_RUN:-10}"
items="${ITEMS:-10000}"
big="${BIG_ITEMS:-1000000}"
conns="${CONNECTIONS:-32}"
peers="${PEERS:-/work/shared/peers}"
targets="${TARGETS:-strata strata-power dynoxide moto dynalite}"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
tools="$here/.tools"
work="$(mktemp -d "${TMPDIR:-/tmp}/ddb-bench.XXXXXX")"
log() { echo "$*" >&2; }

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

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "port $1 never opened"; return 1
}

# start_<target> sets $url and, for processes this script owns, $pid.
start_strata() {
  local port; port="$(free_port)"
  "$strata" serve --aws-port "$port" --data "$work/strata-$1" --durability "$1" >"$work/strata.log" 2>&1 &
  pid=$!; wait_port "$port"; url="http://127.0.0.1:$port"
}
start_dynoxide() {
  local port; port="$(free_port)"
  "$tools/bin/dynoxide" serve --port "$port" --db-path "$work/dynoxide.sqlite" >"$work/dynoxide.log" 2>&1 &
  pid=$!; wait_port "$port"; url="http://127.0.0.1:$port"
}
start_moto() { "$peers/moto/start.sh" >&2; url="http://127.0.0.1:${MOTO_PORT:-5999}"; wait_port "${MOTO_PORT:-5999}"; }
start_dynalite() { "$peers/dynalite/start.sh" >&2; url="http://127.0.0.1:${DYNALITE_PORT:-4998}"; wait_port "${DYNALITE_PORT:-4998}"; }

echo "| target | durability | mix | ok requests | errors | req/s | p50 ms | p99 ms |"
echo "|---|---|---|---|---|---|---|---|"
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
    line="$("$loadgen" run --url "$url" --mix "$mix" --seconds "$secs" --connections "$conns")"
    log "$target $line"
    python3 - "$target" "$durability" "$line" <<'PY'
import json, sys
target, durability, r = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print(f"| {target} | {durability} | {r['mix']} | {r['ok']} | {r['errors']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |")
PY
  done
  case "$target" in
    moto) "$peers/moto/stop.sh" >&2;;
    dynalite) "$peers/dynalite/stop.sh" >&2;;
    *) stop_target;;
  esac
done

if [[ "$big" -gt 0 ]]; then
  start_strata process
  log "== strata: preload $big items for RSS"
  "$loadgen" setup --url "$url" --items "$big" --connections "$conns" >&2
  line="$("$loadgen" run --url "$url" --mix get --seconds "$secs" --connections "$conns")"
  rss="$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
  hwm="$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")"
  size="$(du -sk "$work/strata-process" | cut -f1)"
  echo
  echo "Strata with $big items (~150 B each): RSS $((rss / 1024)) MiB after a ${secs}s GetItem run (peak $((hwm / 1024)) MiB), data directory $((size / 1024)) MiB; GetItem over the big table: $line"
  stop_target
fi
