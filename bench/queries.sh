#!/usr/bin/env bash
# queries.sh times every view and every sql/ query for one tenant, over its
# default range (the whole history) and over 30 days, and keeps each one's
# EXPLAIN (ANALYZE, BUFFERS) under bench/explain/.
#
#   DATABASE_URL=postgres://... bench/queries.sh                 # tenant big, schema sparkevents
#   DATABASE_URL=postgres://... TENANT=acme SCHEMA=other bench/queries.sh
#   DATABASE_URL=postgres://... QUERIES=/tmp/old-sql OUT=bench/explain/before bench/queries.sh
#   DATABASE_URL=postgres://... JIT=off bench/queries.sh          # as sparkevents query runs them
#
# The 30 days are the last 30 whole UTC days of the tenant's events (FROM and
# TO override them). Each query runs once through psql as an analyst would,
# its rows printed to /dev/null, and that wall time is reported (TIME_MS)
# with its row count; then once under EXPLAIN (ANALYZE, BUFFERS), whose
# execution time is reported too (EXEC_MS). service_version_history has no
# period (its 30-day line is skipped); dormant_users' period is the history
# before as_of, so its 30-day line asks as_of = TO with days = 30. Fill a
# database first with bench/fill (see bench/README.md, "At 10M events").
set -euo pipefail
cd "$(dirname "$0")/.."

: "${DATABASE_URL:?set DATABASE_URL to the database holding the events}"
schema=${SCHEMA:-sparkevents}
tenant=${TENANT:-big}
queries=${QUERIES:-sql}
out=${OUT:-bench/explain}
export PGOPTIONS="-c search_path=$schema -c timezone=UTC${JIT:+ -c jit=$JIT}"
psql_q() { psql "$DATABASE_URL" -X -qAt -v ON_ERROR_STOP=1 "$@"; }

if [ -z "${FROM:-}" ] || [ -z "${TO:-}" ]; then
  last=$(psql_q -v tenant="$tenant" <<<"SELECT (max(event_time) AT TIME ZONE 'UTC')::date FROM spark_events WHERE tenant = :'tenant'")
  [ -n "$last" ] || { echo "queries: tenant $tenant has no events" >&2; exit 1; }
  TO=${TO:-$last}
  FROM=${FROM:-$(psql_q -c "SELECT date '$TO' - 30")}
fi
mkdir -p "$out"
echo "queries: schema $schema, tenant $tenant, jit ${JIT:-as the server sets it}, 30 days = [$FROM, $TO), $(psql_q -c "SELECT count(*) FROM spark_events") events"
printf '%-34s %-6s %10s %10s %9s\n' QUERY RANGE TIME_MS EXEC_MS ROWS

ms() { date +%s%N; }
# run NAME RANGE FILE PSQL_ARGS...: FILE is a library file or an SQL text.
run() {
  local name=$1 range=$2 file=$3 t0 t1 rows exec
  shift 3
  t0=$(ms)
  rows=$(psql "$DATABASE_URL" -X -qAt -v ON_ERROR_STOP=1 "$@" -f "$file" | wc -l)
  t1=$(ms)
  # The same statement under EXPLAIN: psql's \if defaults stay as they
  # are, EXPLAIN goes before the first line of SQL.
  awk 'done || /^\\/ || /^--/ || /^[[:space:]]*$/ { print; next } { print "EXPLAIN (ANALYZE, BUFFERS) " $0; done = 1 }' "$file" >"$work/explain.sql"
  psql "$DATABASE_URL" -X -qAt -v ON_ERROR_STOP=1 "$@" -f "$work/explain.sql" >"$out/$name-$range.txt"
  exec=$(awk '/^Execution Time:/ {print $3}' "$out/$name-$range.txt")
  printf '%-34s %-6s %10d %10.0f %9d\n' "$name" "$range" $(((t1 - t0) / 1000000)) "$exec" "$rows"
}

work=$(mktemp -d /tmp/sparkevents-queries.XXXXXX)
trap 'rm -rf "$work"' EXIT
to_end="$TO"
for f in "$queries"/*.sql; do
  name=$(basename "$f" .sql)
  case $name in
    service_version_history)
      run "$name" all "$f" -v tenant="$tenant" ;;
    dormant_users)
      run "$name" all "$f" -v tenant="$tenant"
      run "$name" 30d "$f" -v tenant="$tenant" -v as_of="$to_end" -v days=30 ;;
    *)
      run "$name" all "$f" -v tenant="$tenant"
      run "$name" 30d "$f" -v tenant="$tenant" -v from="$FROM" -v to="$to_end" ;;
  esac
done

# The views, as a BI tool filters them.
view() {
  local name=$1 range=$2 sql=$3
  printf '%s\n' "$sql" >"$work/$name.sql"
  run "view-$name" "$range" "$work/$name.sql"
}
t=$(printf "'%s'" "$tenant")
view daily_event_counts all "SELECT * FROM daily_event_counts WHERE tenant = $t ORDER BY day, event_type;"
view daily_event_counts 30d "SELECT * FROM daily_event_counts WHERE tenant = $t AND day >= '$FROM' AND day < '$TO' ORDER BY day, event_type;"
view user_activity all "SELECT * FROM user_activity WHERE tenant = $t ORDER BY user_name;"
view service_lifecycle all "SELECT * FROM service_lifecycle WHERE tenant = $t ORDER BY event_time;"
view service_lifecycle 30d "SELECT * FROM service_lifecycle WHERE tenant = $t AND event_time >= '$FROM' AND event_time < '$TO' ORDER BY event_time;"
view folder_activity all "SELECT * FROM folder_activity WHERE tenant = $t ORDER BY day, folder_id;"
view folder_activity 30d "SELECT * FROM folder_activity WHERE tenant = $t AND day >= '$FROM' AND day < '$TO' ORDER BY day, folder_id;"
view permission_changes all "SELECT * FROM permission_changes WHERE tenant = $t ORDER BY event_time;"
view permission_changes 30d "SELECT * FROM permission_changes WHERE tenant = $t AND event_time >= '$FROM' AND event_time < '$TO' ORDER BY event_time;"
view sync_health all "SELECT * FROM sync_health WHERE tenant = $t;"
