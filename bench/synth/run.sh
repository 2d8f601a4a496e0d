#!/usr/bin/env bash
# Synthesis benchmark: `strata synth` (release build) against `cdk synth` of the
# peer kit's CDK app (aws-cdk + aws-cdk-lib), both in this run on this machine,
# so the ratios compare numbers taken minutes apart under the same load.
#
#   bench/synth/run.sh        # about 3 minutes after the builds; writes bench/results/synth.md
#
# Two cases:
# 1. generated: a strata.yaml equivalent to the kit's app.js with FUNCTIONS
#    functions (default 64): one table (pk:S, on demand), one bucket, a queue
#    with a dead-letter queue (3 receives), one parameter; each function
#    nodejs20.x behind `GET /fn<i>` of one HTTP API, reading and writing the
#    table, reading the bucket, with the parameter's name in its environment;
#    the first also consumes the queue (batch 10), the second runs every 5
#    minutes. Both sides come to about 400 CloudFormation resources, counted
#    in the written templates and reported.
# 2. examples/orders (6 functions; table with an index and a stream, versioned
#    bucket, two queues, two parameters) against the kit's app at its default
#    5 functions: the kit's app takes only a function count, so this pair is
#    close in size, not equivalent.
#
# Each run is the whole process: `strata synth --stage prod --out DIR` into an
# empty folder (templates, stack policy, code zips), and the kit's
# `cdk/bench-synth.sh N RUNS` (`npx cdk synth --quiet`, a fresh cdk.out each
# run). Wall time is the median of the runs; memory is the peak RSS of the
# largest process (GNU time's %M: for cdk that is node running the app or the
# CLI). One strata run is made and discarded first (page cache).
#
# Environment: RUNS (strata runs per case, 20), CDK_RUNS (5), FUNCTIONS (64),
# STRATA_BIN (skip the build and use this binary), OUT (the report,
# bench/results/synth.md; `-` prints it only), PEERS (the peer kit,
# /work/shared/peers), PEERS_WORK (its work folder, bench/synth/.work/peers),
# CARGO_TARGET_DIR. Only one benchmark runs at a time on this machine: the
# whole run holds /tmp/strata-bench.lock.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
if [[ -z "${STRATA_BENCH_LOCKED:-}" ]]; then
  echo "== waiting for /tmp/strata-bench.lock (one benchmark at a time)" >&2
  exec env STRATA_BENCH_LOCKED=1 flock /tmp/strata-bench.lock "$0" "$@"
fi
command_line="bench/synth/run.sh${*:+ $*}"
for v in RUNS CDK_RUNS FUNCTIONS STRATA_BIN OUT; do
  if [[ -n "${!v:-}" ]]; then command_line="$v=${!v} $command_line"; fi
done
runs="${RUNS:-20}"
cdk_runs="${CDK_RUNS:-5}"
functions="${FUNCTIONS:-64}"
peers="${PEERS:-/work/shared/peers}"
out="${OUT:-$repo/bench/results/synth.md}"
export PEERS_WORK="${PEERS_WORK:-$here/.work/peers}"
work="$here/.work/run"
log() { echo "== $*" >&2; }
gnu_time="$(type -P time || true)"
[[ -n "$gnu_time" ]] || { echo "GNU time is required (apt-get install time)" >&2; exit 1; }

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
mkdir -p "$work"

# The generated service, equivalent to app.js with $functions functions.
gen="$work/generated"
mkdir -p "$gen/src"
cat > "$gen/src/index.js" <<'EOF'
exports.handler = async () => ({ statusCode: 200, body: 'ok' });
EOF
{
  echo "service: synthbench"
  echo "stages:"
  echo "  prod: { target: aws, region: us-east-1 }"
  echo "stateful:"
  echo "  tables:"
  echo "    Table: { partition_key: pk:S }"
  echo "  buckets:"
  echo "    Bucket: {}"
  echo "  queues:"
  echo "    Queue: { dead_letter: { queue: Dlq, max_receives: 3 } }"
  echo "    Dlq: {}"
  echo "  parameters:"
  echo "    Param: { value: v1 }"
  echo "stateless:"
  echo "  defaults: { runtime: nodejs20.x, code: src }"
  echo "  functions:"
  for ((i = 0; i < functions; i++)); do
    events="{ http: GET /fn$i }"
    if ((i == 0)); then events="$events, { queue: Queue, batch_size: 10 }"; fi
    if ((i == 1 || (functions == 1 && i == 0))); then events="$events, { schedule: rate(5 minutes) }"; fi
    echo "    fn$i: { handler: index.handler, uses: { Table: read_write, Bucket: read, Param: read }, events: [ $events ] }"
  done
} > "$gen/strata.yaml"
"$strata" --dir "$gen" --stage prod validate >/dev/null

orders="$work/orders"
mkdir -p "$orders"
(cd "$repo/examples/orders" && tar --exclude=.strata --exclude=__pycache__ -cf - .) | (cd "$orders" && tar -xf -)

now_ns() { date +%s%N; }

# measure_strata DIR NAME: RUNS runs; appends "wall_ms rss_kb" lines to $work/NAME.runs.
measure_strata() {
  local dir=$1 name=$2 i t0 t1 rss
  rm -rf "$work/out-$name"
  "$strata" --dir "$dir" --stage prod synth --out "$work/out-$name" >/dev/null   # discarded
  : > "$work/$name.runs"
  for ((i = 0; i < runs; i++)); do
    rm -rf "$work/out-$name"
    t0=$(now_ns)
    "$gnu_time" -f "%M" -o "$work/time.txt" "$strata" --dir "$dir" --stage prod synth --out "$work/out-$name" >/dev/null
    t1=$(now_ns)
    rss=$(tail -1 "$work/time.txt")
    echo "$(( (t1 - t0) / 1000 )) $rss" >> "$work/$name.runs"
  done
}

# measure_cdk N NAME: the kit's bench-synth.sh; its lines "N=.. runI wall=S.SSs peakRSS=MMMB".
measure_cdk() {
  local n=$1 name=$2
  "$peers/cdk/bench-synth.sh" "$n" "$cdk_runs" | tee "$work/$name.log" >&2
  sed -n 's/.*wall=\([0-9.]*\)s peakRSS=\([0-9]*\)MB.*/\1 \2/p' "$work/$name.log" \
    | awk '{ printf "%d %d\n", $1 * 1000000, $2 * 1024 }' > "$work/$name.runs"
  rm -rf "$work/out-$name"
  cp -r "$PEERS_WORK/cdk/cdk.out" "$work/out-$name"
}

# resources DIR: "total (per template)" over the *.template.json files of DIR.
resources() {
  python3 - "$1" <<'EOF'
import json, pathlib, sys
counts = {}
for p in sorted(pathlib.Path(sys.argv[1]).glob("*.template.json")):
    counts[p.name.removesuffix(".template.json")] = len(json.loads(p.read_text()).get("Resources", {}))
print(sum(counts.values()), "(" + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")")
EOF
}

log "strata synth: generated service ($functions functions), $runs runs"
measure_strata "$gen" strata-generated
log "cdk synth: $functions functions, $cdk_runs runs"
measure_cdk "$functions" cdk-generated
log "strata synth: examples/orders, $runs runs"
measure_strata "$orders" strata-orders
log "cdk synth: 5 functions (the kit's default), $cdk_runs runs"
measure_cdk 5 cdk-orders

# median FILE COLUMN (1 wall in microseconds, 2 RSS in KB)
median() {
  sort -n -k"$2","$2" "$1" | awk -v c="$2" '{ v[NR] = $c } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ms() { awk -v us="$1" 'BEGIN { if (us >= 1000000) printf "%.2f s", us / 1000000; else printf "%.1f ms", us / 1000 }'; }
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f MB", kb / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0fx", a / b }'; }
met() { awk -v a="$1" -v b="$2" 'BEGIN { print (a / b >= 20 ? "met" : "missed") }'; }

row() {
  local label=$1 s=$2 c=$3 sw cw sr cr
  sw=$(median "$work/$s.runs" 1); cw=$(median "$work/$c.runs" 1)
  sr=$(median "$work/$s.runs" 2); cr=$(median "$work/$c.runs" 2)
  echo "| $label | $(ms "$sw") | $(ms "$cw") | **$(ratio "$cw" "$sw")** ($(met "$cw" "$sw")) | $(mb "$sr") | $(mb "$cr") | $(ratio "$cr" "$sr") |"
}

cdk_version() { node -p "require('$PEERS_WORK/cdk/node_modules/$1/package.json').version"; }
report="$work/report.md"
{
  echo "# Synthesis benchmark, one run on $(date -u '+%Y-%m-%d %H:%M') UTC"
  echo
  echo "Command (from the repository root):"
  echo
  echo '```sh'
  echo "$command_line"
  echo '```'
  echo
  echo "- machine: $(nproc) cores, $(uname -sr); load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- strata $(git -C "$repo" rev-parse --short HEAD) (release build): \`strata synth --stage prod --out DIR\`, $runs runs per case after one discarded"
  echo "- aws-cdk $(cdk_version aws-cdk), aws-cdk-lib $(cdk_version aws-cdk-lib), node $(node --version): the peer kit's \`cdk/bench-synth.sh N $cdk_runs\` (\`npx cdk synth --quiet\`)"
  echo "- CloudFormation resources written: generated, strata $(resources "$work/out-strata-generated"), cdk $(resources "$work/out-cdk-generated"); examples/orders, strata $(resources "$work/out-strata-orders"), cdk at 5 functions $(resources "$work/out-cdk-orders")"
  echo
  echo "Wall time is the median of the runs, each the whole process; memory the median peak RSS."
  echo "Target: \`strata synth\` 20x faster than \`cdk synth\`."
  echo
  echo "| case | strata wall | cdk wall | speedup (target 20x) | strata peak RSS | cdk peak RSS | RSS ratio |"
  echo "|---|---|---|---|---|---|---|"
  row "generated, $functions functions (about 400 resources)" strata-generated cdk-generated
  row "examples/orders vs the kit's app at 5 functions" strata-orders cdk-orders
  echo
  echo "The generated service matches app.js resource kind for resource kind; the counts differ"
  echo "where the tools do: Strata writes one log group per function (30-day retention) and one"
  echo "SSM parameter per published output, CDK one IAM policy per function besides its role and"
  echo "an \`AWS::CDK::Metadata\` per stack, and splits the functions over stacks of 50 (\`PER_STACK\`)."
  echo "Both write the code: Strata zips the code folder (once, shared by the functions), CDK"
  echo "inlines it. examples/orders is not the kit's app: it has one function more and richer"
  echo "stateful resources, so that row compares services of about the same size, not equal ones."
} > "$report"
if [[ "$out" != "-" ]]; then
  cp "$report" "$out"
  log "wrote $out"
fi
cat "$report"
