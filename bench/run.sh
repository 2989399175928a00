#!/usr/bin/env bash
# make bench: generate months if missing, then on the same files in the same
# run time reckon's whole pipeline (validate, dedupe, reduce, deduct, rate,
# write every output, reconcile against the generated statement) and the bare
# DuckDB baseline, and record events, wall time, events per second, peak RSS
# and the ratio in bench/results.csv. Not part of `make test`.
#   BENCH_SIZES="1000000 10000000 100000000"  BENCH_ACCOUNTS=100000
#   BENCH_SLICES=8   also close the first size in 8 account slices and check
#                    that their totals add up to the whole month's (0: skip)
#   BENCH_REPEAT=1   time each size this many times, the two engines in
#                    alternation, every run recorded; with more than one, the
#                    median ratio is printed too (one run here moves 5-10%)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reckon-target}"
SIZES="${BENCH_SIZES:-1000000 10000000 100000000}"
ACCOUNTS="${BENCH_ACCOUNTS:-100000}"
DATA="${BENCH_DATA:-bench/data}"
SLICES="${BENCH_SLICES:-8}"
REPEAT="${BENCH_REPEAT:-1}"
cargo build --release --locked
RECKON="$CARGO_TARGET_DIR/release/reckon"
if [ ! -x .venv-bench/bin/python ]; then
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install --quiet -r bench/requirements.txt
fi
results=bench/results.csv
header="date,engine,events,accounts,wall_s,events_per_s,peak_rss_mb,ratio_to_duckdb"
[ -f "$results" ] || echo "$header" > "$results"
measure() { # prints "wall_s peak_rss_kb"; the command's own output goes to $LOG
  local t; t=$(mktemp)
  /usr/bin/time -f "%e %M" -o "$t" "$@" >> "$LOG" 2>&1 || true
  tail -n 1 "$t"; rm -f "$t"
}
printf '%-7s %12s %9s %14s %12s %8s\n' engine events wall_s events_per_s peak_rss_mb ratio
for n in $SIZES; do
  dir="$DATA/m$n-a$ACCOUNTS"
  LOG="$dir.log"
  if [ ! -f "$dir/.done" ]; then
    rm -rf "$dir"; mkdir -p "$dir"
    echo "generating $n events for $ACCOUNTS accounts in $dir ..." >&2
    "$RECKON" generate --accounts "$ACCOUNTS" --events "$n" --seed 42 \
      --statement-faults 3 --out "$dir" >&2
    touch "$dir/.done"
  fi
  ratios=()
  for _ in $(seq "$REPEAT"); do
    : > "$LOG"
    # Each run starts from no earlier outputs, so that every run times the
    # same work: replacing an earlier run's 8.4 GB at 100M costs a rerun 3 to
    # 5 s more on this machine's disk (its blocks are given back), time the
    # month itself does not need.
    rm -rf "$dir/out" "$dir/duckdb.parquet"
    read -r d_wall d_rss < <(measure .venv-bench/bin/python bench/duckdb_baseline.py "$dir/usage" "$dir/duckdb.parquet")
    read -r r_wall r_rss < <(measure "$RECKON" run --quiet --period 2026-10 --input "$dir" --out "$dir/out" \
      --statement "$dir/statement.csv" --fail-on none)
    grep -q "^reckon 2026-10: " "$LOG" || { echo "reckon run failed, see $LOG" >&2; cat "$LOG" >&2; exit 1; }
    now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    ratio=$(python3 -c "print(f'{$r_wall/$d_wall:.2f}' if $d_wall > 0 else '')")
    ratios+=("$ratio")
    for row in "duckdb $d_wall $d_rss 1.00" "reckon $r_wall $r_rss $ratio"; do
      set -- $row
      eps=$(python3 -c "print(int($n/$2) if $2 > 0 else 0)")
      echo "$now,$1,$n,$ACCOUNTS,$2,$eps,$(( $3 / 1024 )),$4" >> "$results"
      printf '%-7s %12s %9s %14s %12s %8s\n' "$1" "$n" "$2" "$eps" "$(( $3 / 1024 ))" "$4"
    done
  done
  if [ "$REPEAT" -gt 1 ]; then
    python3 -c "import statistics, sys; r = sorted(map(float, sys.argv[1:])); print(f'  ratio over {len(r)} runs: median {statistics.median(r):.2f}, from {r[0]:.2f} to {r[-1]:.2f}')" "${ratios[@]}"
  fi
  python3 - "$dir/out/manifest.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
t = m["timings_seconds"]
stages = {k: v for k, v in t.items() if "." not in k}
parts = {k: v for k, v in t.items() if "." in k}
print("  reckon stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(stages.items(), key=lambda kv: -kv[1]) if v >= 0.05))
if parts:
    print("  side by side inside a stage (s): " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(parts.items())))
print(f"  invoice lines {m['outputs']['invoice_lines']:,}; totals " + ", ".join(f"{c} {v}" for c, v in m["totals"].items()))
EOF
done

# Exactness at scale: the first size closed in account slices adds up to the whole.
if [ "$SLICES" -gt 0 ]; then
  n=${SIZES%% *}; dir="$DATA/m$n-a$ACCOUNTS"
  for k in $(seq 0 $((SLICES - 1))); do
    "$RECKON" run --quiet --period 2026-10 --input "$dir" --out "$dir/slice-$k" --shard "$k/$SLICES" > /dev/null
  done
  python3 - "$dir" "$SLICES" <<'EOF'
import json, sys
from decimal import Decimal
d, k = sys.argv[1], int(sys.argv[2])
whole = {c: Decimal(v) for c, v in json.load(open(f"{d}/out/manifest.json"))["totals"].items()}
parts = {}
for i in range(k):
    for c, v in json.load(open(f"{d}/slice-{i}/manifest.json"))["totals"].items():
        parts[c] = parts.get(c, Decimal(0)) + Decimal(v)
ok = whole == parts
print(f"slices: {k} account slices add up to the whole month: {'yes' if ok else 'NO'} ({', '.join(f'{c} {v}' for c, v in sorted(parts.items()))})")
sys.exit(0 if ok else 1)
EOF
fi
