#!/usr/bin/env bash
# Local compute benchmark: `strata dev` against serverless-offline 13 on
# serverless 3 (the peer kit), everything in one run on this machine, so the
# ratios in the report compare numbers taken minutes apart under the same load.
#
#   bench/compute/run.sh            # about 10 minutes; writes bench/results/compute.md
#
# 1. Warm requests to a trivial Node and Python handler through each HTTP
#    gateway: wrk -t2 -cCONNECTIONS (throughput, p50, p99) and wrk -t1 -c1
#    (latency of one request alone). Targets are interleaved, ROUNDS times, and
#    the median round is reported. The floor ("as direct as possible") is a bare
#    HTTP server calling the same handler in its own process (baseline.js,
#    baseline.py); Strata's Lambda Invoke API and serverless-offline's split the
#    gateway's share from the worker's. serverless-offline --useInProcess is
#    measured after its default mode (one peer server at a time).
# 2. Hot swap: save a handler, poll the route every 2 ms until the new code
#    answers (swap.py), for Strata and for serverless-offline --reloadHandler.
# 3. Start to first answered request, N fresh starts each: `strata dev` on a
#    copy of examples/orders (GET /orders), serverless-offline on its service
#    (GET /hello); startup.py.
#
# Environment: ROUNDS (3), WRK_SECONDS (10), LAT_SECONDS (3), CONNECTIONS (32),
# SWAP_REPS (20), START_RUNS (10), STRATA_PORT (3300), STRATA_AWS_PORT (4600),
# SLS_HTTP_PORT (3999), SLS_LAMBDA_PORT (3998), PEERS (the peer kit,
# /work/shared/peers), PEERS_WORK (its work folder, bench/compute/.work/peers),
# STRATA_BIN (skip the build and use this binary), OUT (the report,
# bench/results/compute.md; `-` prints it only), CARGO_TARGET_DIR.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
command_line="bench/compute/run.sh${*:+ $*}"
for v in ROUNDS WRK_SECONDS LAT_SECONDS CONNECTIONS SWAP_REPS START_RUNS STRATA_PORT STRATA_AWS_PORT SLS_HTTP_PORT SLS_LAMBDA_PORT STRATA_BIN OUT; do
  if [[ -n "${!v:-}" ]]; then command_line="$v=${!v} $command_line"; fi
done
rounds="${ROUNDS:-3}"
secs="${WRK_SECONDS:-10}"
lat_secs="${LAT_SECONDS:-3}"
conns="${CONNECTIONS:-32}"
reps="${SWAP_REPS:-20}"
starts="${START_RUNS:-10}"
sport="${STRATA_PORT:-3300}"
aport="${STRATA_AWS_PORT:-4600}"
peers="${PEERS:-/work/shared/peers}"
out="${OUT:-$repo/bench/results/compute.md}"
export PEERS_WORK="${PEERS_WORK:-$here/.work/peers}"
export SLS_HTTP_PORT="${SLS_HTTP_PORT:-3999}" SLS_LAMBDA_PORT="${SLS_LAMBDA_PORT:-3998}"
work="$here/.work/run"
results="$work/results.jsonl"
log() { echo "== $*" >&2; }

if [[ -n "${STRATA_BIN:-}" ]]; then
  strata="$STRATA_BIN"
else
  log "building strata (release)"
  target_dir="${CARGO_TARGET_DIR:-$repo/target}"
  (cd "$repo" && CARGO_TARGET_DIR="$target_dir" cargo build --release --locked -p strata-cli >&2)
  strata="$target_dir/release/strata"
fi
log "peer kit setup ($peers, work folder $PEERS_WORK)"
"$peers/setup.sh" >&2

rm -rf "$work"
mkdir -p "$work/raw" "$work/logs"
: > "$results"
started_at="$(date -u '+%Y-%m-%d %H:%M UTC')"
t_begin=$SECONDS

# Every process this script starts is stopped on exit, by PID (strata dev,
# baselines) or through the kit's stop script (serverless-offline's session).
strata_pid="" pids=()
stop_strata() {
  if [[ -n "$strata_pid" ]] && kill -0 "$strata_pid" 2>/dev/null; then
    kill -INT "$strata_pid"
    wait "$strata_pid" 2>/dev/null || true
  fi
  strata_pid=""
}
cleanup() {
  stop_strata
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$peers/slsoff/stop.sh" >/dev/null 2>&1 || true
}
trap cleanup EXIT

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$sport" "$aport"; do
  port_free "$p" || { echo "port $p is taken: set STRATA_PORT / STRATA_AWS_PORT" >&2; exit 1; }
done
wait_200() { # wait_200 URL: until URL answers 200 (60 s)
  for _ in $(seq 1 600); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" == 200 ]] && return 0
    sleep 0.1
  done
  echo "no 200 from $1" >&2; return 1
}
body_is() { # body_is URL TEXT [curl args]: fail unless URL's body is TEXT
  local got; got="$(curl -s "${@:3}" "$1")"
  [[ "$got" == "$2" ]] || { echo "unexpected answer from $1: $got" >&2; return 1; }
}
quiet() { echo "$1: $("$peers/quiet_check.sh")" >> "$work/quiet.txt"; }
start_strata() { # start_strata DIR LOG: strata dev on $sport/$aport
  "$strata" dev --dir "$1" --port "$sport" --aws-port "$aport" > "$2" 2>&1 &
  strata_pid=$!
}
rss_mb() { # rss_mb PID...: total RSS in MB
  ps -o rss= -p "$(echo "$@" | tr ' ' ',')" | awk '{s+=$1} END {print int(s/1024)}'
}

# The interpreter Strata runs python3.12 functions with (package.rs:
# $STRATA_PYTHON, else python3.12, else python3, resolved to its real path);
# the Python baseline uses the same one. serverless-offline runs `python3`.
strata_python="${STRATA_PYTHON:-}"
if [[ -z "$strata_python" ]]; then
  strata_python="$(python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null \
    || python3 -c 'import sys; print(sys.executable)')"
fi

cp -r "$here/service" "$work/service"
rm -rf "$work/service/.strata"

log "1. warm requests: strata dev, serverless-offline (default), baselines"
quiet "before phase 1"
start_strata "$work/service" "$work/logs/strata-load.log"
S="http://127.0.0.1:$sport" A="http://127.0.0.1:$aport" P="http://127.0.0.1:$SLS_HTTP_PORT" PL="http://127.0.0.1:$SLS_LAMBDA_PORT"
wait_200 "$S/hello"; wait_200 "$S/py"
"$peers/slsoff/start.sh" >&2
wait_200 "$P/hello"; wait_200 "$P/py"
node "$here/baseline.js" "$work/service/node/handler.js" hello 0 > "$work/baseline-node.port" &
baseline_node_pid=$!; pids+=($!)
"$strata_python" "$here/baseline.py" "$work/service/python/handler_py.py" py 0 > "$work/baseline-py.port" &
baseline_python_pid=$!; pids+=($!)
for _ in $(seq 1 100); do [[ -s "$work/baseline-node.port" && -s "$work/baseline-py.port" ]] && break; sleep 0.1; done
B="http://127.0.0.1:$(cat "$work/baseline-node.port")" BP="http://127.0.0.1:$(cat "$work/baseline-py.port")"
inv="$here/invoke.lua"
for url in "$S/hello" "$S/py" "$P/hello" "$P/py" "$B/" "$BP/"; do body_is "$url" hi; done
body_is "$A/2015-03-31/functions/hello/invocations" '{"statusCode":200,"body":"hi"}' -X POST -d '{}' \
  -H 'Authorization: AWS4-HMAC-SHA256 Credential=AKIAFAKEFAKEFAKEFAKE/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=00'

# name runtime path url [wrk args]
loaded=(
  "strata node gateway $S/hello"
  "sls node gateway $P/hello"
  "baseline node direct $B/"
  "strata python gateway $S/py"
  "sls python gateway $P/py"
  "baseline python direct $BP/"
)
alone=(
  "${loaded[@]}"
  "strata node invoke $A/2015-03-31/functions/hello/invocations -s $inv"
  "strata python invoke $A/2015-03-31/functions/py/invocations -s $inv"
  "sls node invoke $PL/2015-03-31/functions/peerbench-dev-hello/invocations -s $inv"
  "sls python invoke $PL/2015-03-31/functions/peerbench-dev-py/invocations -s $inv"
)
cpu_of() { # cpu_of TARGET RUNTIME: a command printing the PIDs of that server's processes
  case "$1" in
    strata) echo "echo $strata_pid; pgrep -P $strata_pid";;   # strata dev and its workers
    sls*) echo "pgrep -s \$(cat $PEERS_WORK/run/sls.pid)";;   # the whole serverless session
    baseline) local v="baseline_$2_pid"; echo "echo ${!v}";;
  esac
}
measure() { # measure ROUND CONNS SECONDS "target runtime path url [args]"
  local round=$1 c=$2 d=$3 target runtime path url extra t=1
  read -r target runtime path url extra <<< "$4"
  [[ "$c" -gt 1 ]] && t=2
  # shellcheck disable=SC2086 # extra holds wrk options
  python3 "$here/wrk.py" "$results" "$work/raw/$target-$runtime-$path-c$c-r$round.txt" \
    target="$target" runtime="$runtime" path="$path" conns="$c" round="$round" \
    cpu="$(cpu_of "$target" "$runtime")" -- -t"$t" -c"$c" -d"${d}s" $extra "$url"
}
log "warm-up (discarded): 3 s at c$conns and 1 s at c1 per target"
for spec in "${alone[@]}"; do
  read -r _ _ _ url extra <<< "$spec"
  # shellcheck disable=SC2086
  wrk -t2 -c"$conns" -d3s $extra "$url" > /dev/null
  # shellcheck disable=SC2086
  wrk -t1 -c1 -d1s $extra "$url" > /dev/null
done
quiet "after warm-up"
for round in $(seq 1 "$rounds"); do
  log "round $round of $rounds"
  for spec in "${loaded[@]}"; do measure "$round" "$conns" "$secs" "$spec"; done
  for spec in "${alone[@]}"; do measure "$round" 1 "$lat_secs" "$spec"; done
  quiet "after round $round"
done
workers="$(pgrep -P "$strata_pid" | tr '\n' ' ')"
sls_sid="$(cat "$PEERS_WORK/run/sls.pid")"
echo "{\"kind\": \"memory\", \"strata_mb\": $(rss_mb "$strata_pid" $workers), \"strata_processes\": $(( $(echo $workers | wc -w) + 1 )), \"sls_mb\": $(rss_mb $(pgrep -s "$sls_sid")), \"sls_processes\": $(pgrep -s "$sls_sid" | wc -l)}" >> "$results"
stop_strata
"$peers/slsoff/stop.sh" >&2
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
pids=()

log "1b. serverless-offline --useInProcess (Node only; Python handlers always run in a subprocess)"
"$peers/slsoff/start-inprocess.sh" >&2
wait_200 "$P/hello"; body_is "$P/hello" hi
wrk -t2 -c"$conns" -d3s "$P/hello" > /dev/null
wrk -t1 -c1 -d1s "$P/hello" > /dev/null
for round in $(seq 1 "$rounds"); do
  measure "$round" "$conns" "$secs" "sls-inprocess node gateway $P/hello"
  measure "$round" 1 "$lat_secs" "sls-inprocess node gateway $P/hello"
done
"$peers/slsoff/stop.sh" >&2
quiet "after phase 1"

log "2. hot swap: save a handler -> new code answers ($reps times each)"
swap() { python3 "$here/swap.py" "$results" --reps "$reps" "$@"; }
# One fresh `strata dev` per runtime, so a swap warms only the function being
# measured (a swap starts every function invoked in the live release within the
# last minute); then the Node loop again with one Python request before each
# save, so every swap also starts Python, as in a session using both.
# The boto3 loops make the Python handler import boto3 at the top, as most do.
start_strata "$work/service" "$work/logs/strata-swap-node.log"
wait_200 "$S/hello"
swap target=strata variant=alone --url "$S/hello" --runtime node \
  --file "$work/service/node/handler.js" --log "$work/logs/strata-swap-node.log"
stop_strata
start_strata "$work/service" "$work/logs/strata-swap-py.log"
wait_200 "$S/py"
swap target=strata variant=alone --url "$S/py" --runtime python \
  --file "$work/service/python/handler_py.py" --log "$work/logs/strata-swap-py.log"
swap target=strata variant=alone,boto3 --url "$S/py" --runtime python --import-boto3 \
  --file "$work/service/python/handler_py.py" --log "$work/logs/strata-swap-py.log"
swap target=strata variant=python-in-use --url "$S/hello" --runtime node --also "$S/py" \
  --file "$work/service/node/handler.js" --log "$work/logs/strata-swap-py.log"
stop_strata
# serverless-offline reloads nothing by default (a change needs a restart: see
# phase 3); --reloadHandler loads the handler afresh for every request (a new
# worker thread, or a new Python process). The handlers it runs are the copies
# in $PEERS_WORK/slsoff, which its start script refreshes from the kit.
# PYTHONDONTWRITEBYTECODE: two saves of the same size within one second would
# otherwise be served from a stale __pycache__ entry.
PYTHONDONTWRITEBYTECODE=1 SLS_LOG=sls-reload.log "$peers/slsoff/start.sh" --reloadHandler >&2
wait_200 "$P/hello"; wait_200 "$P/py"
swap target=sls variant=reloadHandler --url "$P/hello" --runtime node --file "$PEERS_WORK/slsoff/handler.js"
swap target=sls variant=reloadHandler --url "$P/py" --runtime python --file "$PEERS_WORK/slsoff/handler_py.py"
swap target=sls variant=reloadHandler,boto3 --url "$P/py" --runtime python --import-boto3 \
  --file "$PEERS_WORK/slsoff/handler_py.py"
"$peers/slsoff/stop.sh" >&2
quiet "after phase 2"

log "3. start to first answer ($starts fresh starts each, after one warm-up start)"
rm -rf "$work/orders"
cp -r "$repo/examples/orders" "$work/orders"
rm -rf "$work/orders/.strata"
dev_cmd="$strata dev --dir $work/orders --port $sport --aws-port $aport"
python3 "$here/startup.py" "$results" target=strata variant=first --runs 1 \
  --url "$S/orders" --spawn "$dev_cmd" --log-dir "$work/logs"
python3 "$here/startup.py" "$results" target=strata variant=warm --runs "$starts" \
  --url "$S/orders" --spawn "$dev_cmd" --log-dir "$work/logs"
python3 "$here/startup.py" "$results" target=sls variant=warmup --runs 1 \
  --url "$P/hello" --start "$peers/slsoff/start.sh" --stop "$peers/slsoff/stop.sh"
python3 "$here/startup.py" "$results" target=sls variant=warm --runs "$starts" \
  --url "$P/hello" --start "$peers/slsoff/start.sh" --stop "$peers/slsoff/stop.sh"
quiet "after phase 3"

# Symptoms of trouble in strata dev's own output during the runs.
grep -hiE 'panic|error|failed|refused|timed out' "$work"/logs/strata-*.log "$work"/logs/start-strata-*.log \
  | sort | uniq -c | sort -rn | head -20 > "$work/strata-problems.txt" || true

log "report"
versions="$(node -p "'serverless ' + require('$PEERS_WORK/slsoff/node_modules/serverless/package.json').version + ', serverless-offline ' + require('$PEERS_WORK/slsoff/node_modules/serverless-offline/package.json').version")"
python3 "$here/report.py" "$results" \
  --command "$command_line" \
  --date "$started_at" \
  --duration "$((SECONDS - t_begin))" \
  --nproc "$(nproc)" \
  --cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" \
  --memory "$(free -g | awk '/^Mem:/ {print $2}') GB" \
  --kernel "$(uname -r)" \
  --strata "$(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- crates || echo ' (crates modified)')" \
  --node "$(node -v)" \
  --python "$("$strata_python" -V 2>&1) ($strata_python) for Strata and the baseline; $(python3 -V 2>&1) (python3) for serverless-offline" \
  --peer "$versions" \
  --wrk "$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)" \
  --params "rounds $rounds, wrk ${secs} s at c$conns and ${lat_secs} s at c1, $reps swaps, $starts starts" \
  --quiet "$work/quiet.txt" \
  --problems "$work/strata-problems.txt" > "$work/report.md"
if [[ "$out" != "-" ]]; then
  mkdir -p "$(dirname "$out")"
  cp "$work/report.md" "$out"
  log "written to $out (raw outputs in $work)"
fi
cat "$work/report.md"
