#!/usr/bin/env bash
# make bench: generate months if missing, then on the same files in the same
# run time reckon's whole pipeline and the DuckDB baseline, and record wall
# time, events per second and peak RSS in bench/results.csv.
#   BENCH_SIZES="1000000 10000000 100000000"  BENCH_ACCOUNTS=100000
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reckon-target}"
SIZES="${BENCH_SIZES:-1000000 10000000}"
ACCOUNTS="${BENCH_ACCOUNTS:-100000}"
DATA="${BENCH_DATA:-bench/data}"
cargo build --release --locked
RECKON="$CARGO_TARGET_DIR/release/reckon"
if [ ! -x .venv-bench/bin/python ]; then
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install --quiet -r bench/requirements.txt
fi
results=bench/results.csv
[ -f "$results" ] || echo "date,engine,events,accounts,wall_s,events_per_s,peak_rss_mb,ratio_to_duckdb" > "$results"
measure() { # prints "wall_s peak_rss_kb"
  local log; log=$(mktemp)
  /usr/bin/time -f "%e %M" -o "$log" "$@" > /dev/null
  cat "$log"; rm -f "$log"
}
for n in $SIZES; do
  dir="$DATA/m$n-a$ACCOUNTS"
  if [ ! -f "$dir/.done" ]; then
    rm -rf "$dir"; mkdir -p "$dir"
    "$RECKON" generate --accounts "$ACCOUNTS" --events "$n" --seed 42 --out "$dir"
    touch "$dir/.done"
  fi
  read -r d_wall d_rss < <(measure .venv-bench/bin/python bench/duckdb_baseline.py "$dir/usage" "$dir/duckdb.parquet")
  read -r r_wall r_rss < <(measure "$RECKON" run --quiet --period 2026-10 --input "$dir" --out "$dir/out")
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  ratio=$(python3 -c "print(f'{$r_wall/$d_wall:.2f}' if $d_wall > 0 else '')")
  for row in "duckdb $d_wall $d_rss 1.00" "reckon $r_wall $r_rss $ratio"; do
    set -- $row
    eps=$(python3 -c "print(int($n/$2) if $2 > 0 else 0)")
    echo "$now,$1,$n,$ACCOUNTS,$2,$eps,$(( $3 / 1024 )),$4" | tee -a "$results"
  done
done
