#!/usr/bin/env bash
# Two snapex binaries on the same table, alternating run by run, so both see the same machine:
# the check that a change which should not change speed (a refactor, a move) did not.
#
#   bench/compare_builds.sh OLD_BINARY NEW_BINARY          # 3 runs each, both engines
#   RUNS=5 ENGINES=pg bench/compare_builds.sh old new
#
# Build a commit's binary with: git worktree add /tmp/old <commit> && (cd /tmp/old &&
# cargo build --release -p snapex --bin snapex) and copy target/release/snapex aside.
# The table is bench_wide of snapex_bench (built by peers.sh: 5,000,000 rows, 22 columns).
# Prints each run (wall s, CPU s, peak RSS MiB, rows from the manifest), then each binary's
# median wall time and new/old.
set -euo pipefail
old=${1:?usage: compare_builds.sh OLD_BINARY NEW_BINARY}
new=${2:?usage: compare_builds.sh OLD_BINARY NEW_BINARY}
RUNS=${RUNS:-3}
ENGINES=${ENGINES:-"pg mysql"}
BENCH_PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
BENCH_MYSQL=${BENCH_MYSQL:-mysql://root@127.0.0.1:3306}
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for engine in $ENGINES; do
  if [[ $engine == pg ]]; then src=$BENCH_PG/snapex_bench; inc=public.bench_wide
  else src=$BENCH_MYSQL/snapex_bench; inc=snapex_bench.bench_wide; fi
  for ((run = 1; run <= RUNS; run++)); do
    for which in old new; do
      bin=$old; [[ $which == new ]] && bin=$new
      out=$(mktemp -d)
      /usr/bin/time -f "%e %U %S %M" -o "$out.time" "$bin" export --source "$src" --include "$inc" \
        --dest "$out" --no-progress >/dev/null 2>&1
      read -r wall user sys rss <"$out.time"
      rows=$(python3 -c "import json,glob,sys; print(json.load(open(glob.glob(sys.argv[1] + '/*/manifest.json')[0]))['totals']['rows'])" "$out")
      echo "$engine $which run $run: wall $wall s, cpu $(python3 -c "print(round($user + $sys, 2))") s, peak RSS $((rss / 1024)) MiB, $rows rows"
      echo "$engine $which $wall" >>"$log"
      rm -rf "$out" "$out.time"
    done
  done
done
python3 - "$log" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    engine, which, wall = line.split()
    runs.setdefault((engine, which), []).append(float(wall))
for engine in dict.fromkeys(e for e, _ in runs):
    o, n = (statistics.median(runs[(engine, w)]) for w in ("old", "new"))
    print(f"{engine}: median wall old {o:.2f} s, new {n:.2f} s, new/old {n / o:.2f}")
PY
