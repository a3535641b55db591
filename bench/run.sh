#!/usr/bin/env bash
# Benchmark of sparkevents import beside its floors.
#
#   bench/run.sh [ROWS...]        default: 100000 1000000
#
# For each row count and each workbook variant (BENCH_VARIANTS, default
# "shared-number inline-text": shared-strings cells with Excel date numbers,
# inline-string cells with ISO 8601 text times; a variant ending in
# "-distinct", such as shared-number-distinct, makes every description
# unique, so the shared-strings table grows with the rows as a column of
# IDs would) it generates a workbook with bench/gen and measures, one
# after the other (floor, import and reimport BENCH_REPEAT times, default
# 1, in turn, since a shared machine's speed drifts from minute to minute):
#
#   floor      excelize Rows() iteration that only counts cells (bench/floor),
#              under the import's 256 MiB soft memory limit and the GOGC=400
#              it always ran at (the import's is 175; see internal/gctune)
#   fast       the floor's iteration with transform's fast reader (bench/floor -fast)
#   read       transform.Read with callbacks that do nothing (bench/floor -read)
#   copy-pk    psql \copy of the same rows as CSV into a table with only a
#              primary key
#   copy-like  the same \copy into CREATE TABLE ... (LIKE spark_events
#              INCLUDING ALL): spark_events' key, indexes and defaults, the
#              server's own ingest and the reference of the ×COPY column
#   copy-events the same \copy into spark_events itself, in one statement:
#              its indexes and the rollups its triggers keep, computed once
#              for all rows: the least an import asks of the server
#   import     sparkevents import --tenant bench FILE into an empty schema
#   reimport   the same import again: every row present, nothing changes
#   import-id  the same rows with an Event ID column (bench/gen -ids) into
#              an empty schema
#   reimport10 then a workbook of those rows where 10% have another
#              Description (bench/gen -ids -change 10): 10% updated, 90%
#              unchanged. "Changed" needs Spark's IDs: without them a row's
#              ID is a hash of its content, so an edited row is a new event
#   pandas     with BENCH_PANDAS=1, for workbooks of at most
#              BENCH_PANDAS_MAX_ROWS rows (default 100000, since pandas
#              holds the whole sheet in memory): bench/pandas_import.py, the
#              peer an analyst would write (read_excel with openpyxl, COPY)
#
# and prints seconds, rows/s, CPU use, peak RSS (from /usr/bin/time), each
# step's time over the floor's of the same round (×FLOOR), its rows/s over
# copy-like's (×COPY), the CPU time PostgreSQL spent during it (PG_CPU_S,
# with the throwaway cluster only), the tuples an import step wrote
# (WRITTEN, by xmin: an unchanged re-import must write none), the CPU time
# other processes of the machine used meanwhile (OTHERS_S: a shared host
# slows a step that needs both cores) and the CPU time stolen by the
# hypervisor (STEAL_S); then with several rounds
# the median of each step and its ratio to the median floor, and the median
# of the rounds' own ratios. With the throwaway cluster, pg_stat_statements
# is loaded (there only) and each import step is followed by its top
# statements by server time. It exits non-zero only when a step fails or
# an import's counts are wrong or an unchanged re-import wrote a tuple,
# never on a slow result. Without DATABASE_URL
# it starts a throwaway PostgreSQL (as .ci/run does); with it, it uses the
# schema sparkevents_bench there, dropping it first. The throwaway cluster
# compares text in byte order (locale C); BENCH_ICU_LOCALE=en-US gives it
# that ICU collation instead (PostgreSQL 15 or later), as most servers have
# one other than C.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=("$@")
((${#sizes[@]})) || sizes=(100000 1000000)
variants=(${BENCH_VARIANTS:-shared-number inline-text})
repeat=${BENCH_REPEAT:-1}
schema=sparkevents_bench

pandas=${BENCH_PANDAS:-0}
[ "$pandas" = 0 ] && pandas=""
if ! [[ $repeat =~ ^[1-9][0-9]*$ ]]; then
  echo "bench: BENCH_REPEAT must be a positive number, not \"$repeat\"" >&2
  exit 2
fi
if [ -n "$pandas" ] && ! /usr/bin/python3 -c 'import pandas, openpyxl, psycopg2' 2>/dev/null; then
  echo "bench: installing pandas, openpyxl and psycopg2 (BENCH_PANDAS is set)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pandas python3-openpyxl python3-psycopg2 >/dev/null
fi
if [ ! -x /usr/bin/time ]; then
  echo "bench: installing time (for peak RSS)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi

work=$(mktemp -d /tmp/sparkevents-bench.XXXXXX)
pgdir=""
pgss=""
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  if [ -n "$pgdir" ]; then
    as_pg "$bindir/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pgdir"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "bench: building"
go build -o "$work/sparkevents" .
go build -o "$work/gen" ./bench/gen
go build -o "$work/floor" ./bench/floor

if [ -z "${DATABASE_URL:-}" ]; then
  bindir=$(dirname "$(readlink -f "$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1)")")
  pgdir=$(mktemp -d /tmp/sparkevents-bench-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres: "$pgdir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 55433)
  collation=(--locale=C)
  [ -n "${BENCH_ICU_LOCALE:-}" ] && collation+=(--locale-provider=icu --icu-locale="$BENCH_ICU_LOCALE")
  as_pg "$bindir/initdb" -D "$pgdir/data" -U postgres --auth=trust --no-sync -E UTF8 "${collation[@]}" >/dev/null
  # The settings of .ci/run and internal/pgcluster: durability off, the
  # rest as installed.
  # pg_stat_statements, when installed, for the per-step statement
  # profile; it is loaded in this throwaway cluster only.
  pgss=""
  [ -f "$("$bindir/pg_config" --sharedir 2>/dev/null || echo /nonexistent)/extension/pg_stat_statements.control" ] &&
    pgss="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
  as_pg "$bindir/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w -t 60 \
    -o "-p $port -k '' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off $pgss" start >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  echo "bench: throwaway PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on port $port, collation ${BENCH_ICU_LOCALE:-C}"
fi
export SPARKEVENTS_SCHEMA=$schema SPARKEVENTS_NO_PROGRESS=true SPARKEVENTS_LOG_LEVEL=warn
psql_q() { PGOPTIONS="-c client_min_messages=warning" psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -qAt "$@"; }
if [ -n "$pgdir" ] && [ -n "$pgss" ]; then
  psql_q -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA public" || pgss=""
fi
# pg_cpu: CPU seconds used so far by the throwaway cluster's processes:
# the postmaster's own and its exited children's (backends that ended, as
# each import's do, are added to its cutime and cstime when reaped), and
# its living children's. Empty with DATABASE_URL.
pg_cpu() {
  [ -n "$pgdir" ] || return 0
  local pm
  pm=$(head -n1 "$pgdir/data/postmaster.pid")
  { awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat"
    for c in $(cat "/proc/$pm/task/$pm/children" 2>/dev/null); do
      awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || true
    done
  } | awk -v hz="$(getconf CLK_TCK)" '{t += $1} END {printf "%.2f", t / hz}'
}

echo "bench: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
results=$work/results
: >"$results"

# steal is the CPU time, in seconds over all CPUs, that the hypervisor gave
# to others while this machine's CPUs wanted to run (/proc/stat). On a
# shared machine it tells a slow round from a slow step: the import needs
# both cores, the floor one, so steal costs the import more.
hz=$(getconf CLK_TCK)
steal() { awk -v hz="$hz" '/^cpu /{printf "%.2f", $9 / hz}' /proc/stat; }
# busy: CPU seconds the machine's processes used so far, over all CPUs.
busy() { awk -v hz="$hz" '/^cpu /{printf "%.2f", ($2 + $3 + $4 + $7 + $8) / hz}' /proc/stat; }

# measure NAME ROWS CMD...: runs CMD under /usr/bin/time and records
# seconds, CPU, peak RSS and steal; CMD's stdout goes to $work/out.
measure() {
  local name=$1 rows=$2 s0 stolen p0 pgcpu b0
  shift 2
  s0=$(steal)
  b0=$(busy)
  p0=$(pg_cpu)
  if ! /usr/bin/time -f '%e %P %M' -o "$work/time" "$@" >"$work/out" 2>"$work/err"; then
    echo "bench: $name failed:" >&2
    cat "$work/out" "$work/err" >&2
    exit 1
  fi
  stolen=$(awk -v a="$s0" -v b="$(steal)" 'BEGIN {printf "%.1f", b - a}')
  pgcpu=-
  # The backend ends just after its client: let the postmaster reap it.
  [ -z "$p0" ] || sleep 0.3
  [ -z "$p0" ] || pgcpu=$(awk -v a="$p0" -v b="$(pg_cpu)" 'BEGIN {printf "%.1f", b - a}')
  read -r secs cpu rss <"$work/time"
  # What other processes of this machine used meanwhile: all its busy
  # time but the step's own and PostgreSQL's.
  other=$(awk -v a="$b0" -v b="$(busy)" -v s="$secs" -v c="${cpu%\%}" -v p="$pgcpu" \
    'BEGIN {o = b - a - s * c / 100 - (p == "-" ? 0 : p); printf "%.1f", o < 0 ? 0 : o}')
  step_line="$label $name $rows $secs $cpu $rss $stolen $pgcpu"
  printf '  %-10s %8.2f s  %s CPU  %6d MiB  PostgreSQL %s s  others %s s  steal %s s\n' "$name" "$secs" "$cpu" $((rss / 1024)) "$pgcpu" "$other" "$stolen"
}

# record [WRITTEN]: adds the last measured step to the results.
record() { echo "$step_line ${1:--} $other" >>"$results"; }

# xid: a new transaction ID; every tuple written after it has a greater
# xmin (the cluster is too young to wrap around).
xid() { psql_q -c "SELECT pg_current_xact_id()::text::bigint % 4294967296"; }
# written XID: tuples of spark_events whose xmin is after XID.
written() { psql_q -c "SELECT count(*) FROM $schema.spark_events WHERE xmin::text::bigint > $1"; }

# import_step NAME WORKBOOK WANT_INSERTED WANT_UPDATED WANT_UNCHANGED:
# measures an import, checks its counts and the tuples it wrote, and shows
# its statements' server time when pg_stat_statements is there.
import_step() {
  local name=$1 wb=$2 x0 n
  [ -z "$pgss" ] || psql_q -c "SELECT pg_stat_statements_reset()" >/dev/null
  x0=$(xid)
  measure "$name" "$rows" "$work/sparkevents" import --tenant bench "$wb"
  check_import "$3" "$4" "$5"
  n=$(written "$x0")
  if [ "$n" != $(($3 + $4)) ]; then
    echo "bench: $name wrote $n tuples, want $(($3 + $4)) (inserted + updated)" >&2
    exit 1
  fi
  record "$n"
  [ -z "$pgss" ] || statements
}

# statements: the statements of the last step by server time, as
# pg_stat_statements saw them (a COPY's time includes waiting for the
# client's rows).
statements() {
  psql_q -F ' ' -c "SELECT round(total_exec_time::numeric / 1000, 2), calls, rows,
      shared_blks_hit + shared_blks_read, shared_blks_dirtied, temp_blks_written + local_blks_written,
      left(regexp_replace(query, '\s+', ' ', 'g'), 70)
    FROM pg_stat_statements
    WHERE query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE '%xmin::text::bigint%' AND total_exec_time > 0
    ORDER BY total_exec_time DESC LIMIT 6" |
    awk 'BEGIN {printf "    %8s %7s %9s %10s %8s %8s  %s\n", "server_s", "calls", "rows", "blks", "dirtied", "tmp_blks", "statement"}
      {q = $7; for (i = 8; i <= NF; i++) q = q " " $i
       printf "    %8s %7s %9s %10s %8s %8s  %s\n", $1, $2, $3, $4, $5, $6, q}'
}

# check_import WANT_INSERTED WANT_UPDATED WANT_UNCHANGED: the import's
# summary line.
check_import() {
  local line
  line=$(awk '$1 ~ /\.xlsx$/ {print $2, $3, $4, $5, $6}' "$work/out")
  read -r read ins upd unch rej <<<"$line"
  if [ "$read" != "$rows" ] || [ "$ins" != "$1" ] || [ "$upd" != "$2" ] || [ "$unch" != "$3" ] || [ "$rej" != 0 ]; then
    echo "bench: import counts read=$read inserted=$ins updated=$upd unchanged=$unch rejected=$rej; want read=$rows inserted=$1 updated=$2 unchanged=$3" >&2
    cat "$work/out" "$work/err" >&2
    exit 1
  fi
}

for rows in "${sizes[@]}"; do
  for variant in "${variants[@]}"; do
    book=$work/events-$rows-$variant.xlsx
    idbook=$work/events-$rows-$variant-ids.xlsx
    changedbook=$work/events-$rows-$variant-ids-changed.xlsx
    csv=$work/events-$rows.csv
    echo "bench: $rows rows, $variant"
    IFS=- read -r strs times extra <<<"$variant"
    case "${extra:-}" in
      "") gen_flags=() ;;
      distinct) gen_flags=(-distinct) ;;
      *) echo "bench: variant $variant: want STRINGS-TIMES or STRINGS-TIMES-distinct" >&2; exit 2 ;;
    esac
    "$work/gen" -rows "$rows" -strings "$strs" -times "$times" ${gen_flags[@]+"${gen_flags[@]}"} -o "$book" -csv "$csv"
    # The same rows with Spark's IDs, and with 10% of them edited.
    "$work/gen" -rows "$rows" -strings "$strs" -times "$times" ${gen_flags[@]+"${gen_flags[@]}"} -ids -o "$idbook"
    "$work/gen" -rows "$rows" -strings "$strs" -times "$times" ${gen_flags[@]+"${gen_flags[@]}"} -ids -change 10 -o "$changedbook"
    changed=$(awk -v n="$rows" 'BEGIN {for (i = 0; i < n; i++) if (int(i * 10 / 100) != int((i + 1) * 10 / 100)) c++; print c + 0}')
    echo "  workbook  $(($(stat -c %s "$book") >> 20)) MiB"

    for rep in $(seq "$repeat"); do
      label="$rows $variant $rep"
      ((repeat == 1)) || echo "  round $rep of $repeat"
      measure floor "$rows" "$work/floor" "$book"
      record
      if ((rep == 1)); then
        measure fast "$rows" "$work/floor" -fast "$book"
        record
        measure read "$rows" "$work/floor" -read "$book"
        record

        # The server's floors: the same rows as CSV, with only a primary
        # key and with everything spark_events has.
        psql_q -c "DROP SCHEMA IF EXISTS $schema CASCADE"
        "$work/sparkevents" migrate up >/dev/null
        cols="tenant, event_id, event_time, event_type, user_name, folder_id, folder_name, service_name,
          service_version, description, ip_address, attributes, first_run_id, last_run_id"
        psql_q -c "DROP TABLE IF EXISTS bench_copy" -c "CREATE TABLE bench_copy (
          tenant text, event_id text, event_time timestamptz NOT NULL, event_type text NOT NULL,
          user_name text, folder_id text, folder_name text, service_name text, service_version text,
          description text, ip_address text, attributes jsonb NOT NULL, first_run_id bigint NOT NULL,
          last_run_id bigint NOT NULL, PRIMARY KEY (tenant, event_id))" -c "CHECKPOINT"
        measure copy-pk "$rows" psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -qc "\\copy bench_copy ($cols) FROM '$csv' WITH (FORMAT csv)"
        record
        psql_q -c "DROP TABLE bench_copy" -c "CREATE TABLE bench_copy (LIKE $schema.spark_events INCLUDING ALL)" -c "CHECKPOINT"
        measure copy-like "$rows" psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -qc "\\copy bench_copy ($cols) FROM '$csv' WITH (FORMAT csv)"
        record
        psql_q -c "DROP TABLE bench_copy" -c "CHECKPOINT"
        # spark_events itself, in one statement: its indexes and the rollups
        # its triggers keep, computed once for all rows; what an import
        # must ask of the server at the least. TRUNCATE empties the rollups
        # with it.
        measure copy-events "$rows" psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -qc "\\copy $schema.spark_events ($cols) FROM '$csv' WITH (FORMAT csv)"
        record
        psql_q -c "TRUNCATE $schema.spark_events" -c "CHECKPOINT"
        rm -f "$csv"
        if [ -n "$pandas" ] && ((rows <= ${BENCH_PANDAS_MAX_ROWS:-100000})); then
          measure pandas "$rows" /usr/bin/python3 bench/pandas_import.py "$DATABASE_URL" "$book"
          record
          if ! grep -qx "rows=$rows" "$work/out"; then
            echo "bench: pandas loaded $(cat "$work/out"), want rows=$rows" >&2
            exit 1
          fi
          psql_q -c "DROP TABLE bench_pandas"
        fi
      fi

      psql_q -c "DROP SCHEMA IF EXISTS $schema CASCADE"
      "$work/sparkevents" migrate up >/dev/null
      psql_q -c "CHECKPOINT"
      import_step import "$book" "$rows" 0 0
      psql_q -c "VACUUM ANALYZE $schema.spark_events" -c "CHECKPOINT"
      import_step reimport "$book" 0 0 "$rows"
      if ((rep == 1)); then
        psql_q -c "DROP SCHEMA $schema CASCADE"
        "$work/sparkevents" migrate up >/dev/null
        psql_q -c "CHECKPOINT"
        import_step import-id "$idbook" "$rows" 0 0
        psql_q -c "VACUUM ANALYZE $schema.spark_events" -c "CHECKPOINT"
        import_step reimport10 "$changedbook" 0 "$changed" $((rows - changed))
      fi
    done
    rm -f "$book" "$idbook" "$changedbook"
  done
done

echo "bench: load average $(cut -d' ' -f1-3 /proc/loadavg) at end"
echo
# results: ROWS VARIANT ROUND STEP ROWS SECONDS CPU RSS_KIB STEAL PG_CPU
# WRITTEN OTHERS. Each step's ×FLOOR is to the floor of its own round, its ×COPY
# the copy-like step's time (measured once per size and workbook) over its
# own, so its rows/s over copy-like's; with several rounds, a median
# line per step follows, its ratio the median time over the median floor,
# then an rmed line, the median of the rounds' own ratios: a floor slowed
# by the host in one round moves the first, hardly the second.
awk '
  { round = $1 " " $2 " " $3; secs[round, $4] = $6; if ($4 == "copy-like") cl[$1 " " $2] = $6 }
  { n++; rr[n] = round; st[n] = $4; r[n] = $1; v[n] = $2; rd[n] = $3; s[n] = $6; c[n] = $7; m[n] = $8 / 1024; x[n] = $9; pc[n] = $10; wr[n] = $11; ot[n] = $12 }
  { group = $1 " " $2 " " $4; if (!(group in cnt)) order[++ng] = group
    cnt[group]++; vals[group, cnt[group]] = $6; rowsof[group] = $5
    f = secs[round, "floor"]; if (f > 0) { rcnt[group]++; rvals[group, rcnt[group]] = $6 / f } }
  function median(g) { return med_of(vals, cnt[g], g) }
  function ratio_median(g) { return med_of(rvals, rcnt[g], g) }
  function med_of(src, k, g,   i, j, t, a) {
    if (k == 0) return 0
    for (i = 1; i <= k; i++) a[i] = src[g, i]
    for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
  }
  function xcopy(rv, secs,   t) { t = cl[rv]; return (t > 0 && secs > 0) ? sprintf("%.2f", t / secs) : "-" }
  END {
    # The workbook column is as wide as its longest name, at least 14.
    wv = 14
    for (i = 1; i <= n; i++) if (length(v[i]) > wv) wv = length(v[i])
    W = "%-" wv "s"
    # "×" is two bytes, which printf widths count: pad the header by hand.
    printf "%-9s " W " %5s %-10s %8s %9s %6s %8s  ×FLOOR   ×COPY %8s %8s %8s %7s\n", "ROWS", "WORKBOOK", "ROUND", "STEP", "SECONDS", "ROWS/S", "CPU", "RSS_MIB", "PG_CPU_S", "WRITTEN", "OTHERS_S", "STEAL_S"
    for (i = 1; i <= n; i++) {
      f = secs[rr[i], "floor"]
      printf "%-9s " W " %5s %-10s %8.2f %9.0f %6s %8.1f %7.2f %7s %8s %8s %8s %7.1f\n", r[i], v[i], rd[i], st[i], s[i], (s[i] > 0) ? r[i] / s[i] : 0, c[i], m[i], (f > 0) ? s[i] / f : 0, xcopy(r[i] " " v[i], s[i]), pc[i], wr[i], ot[i], x[i]
    }
    if (rep > 1) {
      for (i = 1; i <= ng; i++) {
        g = order[i]; split(g, p, " "); med = median(g); fl = median(p[1] " " p[2] " floor")
        printf "%-9s " W " %5s %-10s %8.2f %9.0f %6s %8s %7.2f %7s\n", p[1], p[2], "med", p[3], med, (med > 0) ? rowsof[g] / med : 0, "", "", (fl > 0) ? med / fl : 0, xcopy(p[1] " " p[2], med)
      }
      for (i = 1; i <= ng; i++) {
        g = order[i]; split(g, p, " ")
        printf "%-9s " W " %5s %-10s %8s %9s %6s %8s %7.2f\n", p[1], p[2], "rmed", p[3], "", "", "", "", ratio_median(g)
      }
    }
  }' rep="$repeat" "$results"
