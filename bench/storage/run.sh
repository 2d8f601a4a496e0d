#!/usr/bin/env bash
# Storage benchmark: S3 and SQS of `strata serve` (durable, SQLite and blob
# files) against a moto server (in memory), one after the other in one run,
# with the same Rust load generator (loadgen/, CONNECTIONS keep-alive
# connections, unsigned requests with a fixed SigV4 header). Steps, per target:
# S3 PUT then GET of 1 KB objects, the same with 8 MB objects, SQS SendMessage,
# then ReceiveMessage (10 at a time) and DeleteMessage on queues filled with
# the same DEPTHS of messages on both servers, and for Strata alone also at
# DEEP_DEPTH (moto takes seconds per receive at 1,000 already). Prints a markdown report
# (throughput, MB/s, p50/p99, ratios Strata/moto against the 5x target, CPU
# each side used) to stdout; progress goes to stderr.
#
#   flock /tmp/strata-bench.lock bench/storage/run.sh > bench/results/storage.md
#
# Environment: SECONDS_PER_STEP (10), CONNECTIONS (8), BIG_SIZE (8388608),
# DEPTHS ("1000"), DEEP_DEPTH (10000, Strata only; 0 skips it),
# DURABILITY (process), TARGETS ("strata moto"), STEPS ("s3 s3-big sqs": a
# subset runs only those), STRATA_BIN (a strata binary to measure instead of
# a release build of this tree, e.g. a copy kept from before a change),
# PEERS (the peer kit,
# /work/shared/peers), PEERS_WORK (its work folder, bench/storage/.work/peers),
# MOTO_PORT (a free port), CARGO_TARGET_DIR.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# The command the report shows: how this run was started, with the lock that
# keeps one benchmark at a time on a shared machine.
command_line="flock /tmp/strata-bench.lock bench/storage/run.sh${*:+ $*} > bench/results/storage.md"
for v in SECONDS_PER_STEP CONNECTIONS BIG_SIZE DEPTHS DEEP_DEPTH DURABILITY TARGETS STEPS STRATA_BIN; do
  if [[ -n "${!v:-}" ]]; then command_line="$v=\"${!v}\" $command_line"; fi
done
secs="${SECONDS_PER_STEP:-10}"
conns="${CONNECTIONS:-8}"
big="${BIG_SIZE:-8388608}"
depths="${DEPTHS:-1000}"
deep="${DEEP_DEPTH:-10000}"
durability="${DURABILITY:-process}"
targets="${TARGETS:-strata moto}"
steps=" ${STEPS:-s3 s3-big sqs} "
peers="${PEERS:-/work/shared/peers}"
export PEERS_WORK="${PEERS_WORK:-$here/.work/peers}"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
work="$(mktemp -d "${TMPDIR:-/tmp}/storage-bench.XXXXXX")"
results="$work/results.jsonl"
log() { echo "== $*" >&2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "port $1 never opened"; return 1
}
export MOTO_PORT="${MOTO_PORT:-$(free_port)}"

# Everything this script starts is stopped on exit: strata by PID, moto
# through the kit's stop script (which signals the PIDs it saved).
pid=""
stop_strata() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid" 2>/dev/null || true; fi
  pid=""
}
cleanup() { stop_strata; "$peers/moto/stop.sh" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

log "building strata (release) and the load generator"
if [[ -z "${STRATA_BIN:-}" ]]; then
  (cd "$repo" && CARGO_TARGET_DIR="$target_dir" cargo build --release --locked -p strata-cli >&2)
fi
(cd "$here/loadgen" && CARGO_TARGET_DIR="$target_dir" cargo build --release --locked >&2)
strata="${STRATA_BIN:-$target_dir/release/strata}"
loadgen="$target_dir/release/storage-loadgen"
log "peer kit setup ($peers, work folder $PEERS_WORK)"
"$peers/setup.sh" >&2
moto_version="$("$PEERS_WORK/venv/bin/python" -c 'import moto; print(moto.__version__)')"

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
started_at="$(date -u '+%Y-%m-%d %H:%M UTC')"
load_before="$(loadavg)"
t_begin=$SECONDS

# start_<target> sets $url and $server_pid (the process whose CPU is counted).
start_strata() {
  local port; port="$(free_port)"
  "$strata" serve --aws-port "$port" --data "$work/strata-data" --durability "$durability" \
    > "$work/strata.log" 2>&1 &
  pid=$!; server_pid=$pid; wait_port "$port"; url="http://127.0.0.1:$port"
}
start_moto() {
  "$peers/moto/start.sh" >&2
  wait_port "$MOTO_PORT"; url="http://127.0.0.1:$MOTO_PORT"
  server_pid="$(cat "$PEERS_WORK/run/moto.pid")"
}
stop_target() {
  case "$1" in
    strata) stop_strata; rm -rf "$work/strata-data";;
    moto) "$peers/moto/stop.sh" >&2;;
  esac
}

# step TARGET LOADGEN-ARGS...: one loadgen command; each JSON line it prints
# is tagged with the target and appended to the results.
step() {
  local target=$1; shift
  "$loadgen" "$@" --url "$url" --connections "$conns" --seconds "$secs" --server-pid "$server_pid" \
    | while IFS= read -r line; do
        log "$target $line"
        echo "{\"target\": \"$target\", ${line#\{}" >> "$results"
      done
  # A failed command fails the run (pipefail), with its message on stderr.
}

for target in $targets; do
  case "$target" in
    strata|moto) ;;
    *) log "unknown target $target"; exit 1;;
  esac
  log "$target: S3 1 KB, S3 $big B, SQS ($conns connections, ${secs}s per step)"
  "start_$target"
  echo "{\"target\": \"$target\", \"step\": \"load\", \"before\": \"$(loadavg)\"}" >> "$results"
  if [[ "$steps" == *" s3 "* ]]; then step "$target" s3 --size 1024 --keys 1000; fi
  # Two keys per connection: a long step overwrites instead of piling up GBs.
  if [[ "$steps" == *" s3-big "* ]]; then step "$target" s3 --size "$big" --keys 2; fi
  target_depths="$depths"
  if [[ "$target" == strata && "$deep" -gt 0 ]]; then target_depths="$depths,$deep"; fi
  if [[ "$steps" == *" sqs "* ]]; then
    step "$target" sqs --max-messages 200000 --depths "$target_depths"
  fi
  rss_kb="$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")"
  echo "{\"target\": \"$target\", \"step\": \"rss\", \"kb\": $rss_kb}" >> "$results"
  stop_target "$target"
done

python3 "$here/report.py" "$results" \
  command="$command_line" started="$started_at" minutes="$(( (SECONDS - t_begin + 30) / 60 ))" \
  load_before="$load_before" load_after="$(loadavg)" connections="$conns" seconds="$secs" \
  big="$big" depths="$depths" deep="$deep" durability="$durability" moto="$moto_version" \
  strata_rev="$(git -C "$repo" rev-parse --short HEAD)${STRATA_BIN:+ (measured: $STRATA_BIN)}" \
  machine="$(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(free -g | awk '/Mem:/ {print $2}') GB RAM"
