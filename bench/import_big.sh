#!/usr/bin/env bash
# import_big.sh times the import of one workbook into an empty schema and
# into the table bench/fill made (as its tenant, after its history), in
# turn, and prints each round's ratio; the new events are deleted after
# each round. It is how bench/README.md's "Distinct counts kept by the
# triggers" measured the import into the 10M table:
#
#   DATABASE_URL=postgres://... go run ./bench/fill -n 10000000 -tenant big -years 2
#   go run ./bench/gen -rows 100000 -strings shared -times number -o /tmp/w100k.xlsx
#   DATABASE_URL=postgres://... ROUNDS=5 bench/import_big.sh /tmp/w100k.xlsx
#
# The workbook's events must start at or after FROM (default 2026-01-01,
# where bench/gen's start and bench/fill's history ends): those are deleted.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?set DATABASE_URL to the database bench/fill filled}"
workbook=${1:?usage: bench/import_big.sh WORKBOOK}
tenant=${TENANT:-big}
from=${FROM:-2026-01-01}
rounds=${ROUNDS:-3}
bin=${SPARKEVENTS:-}
if [ -z "$bin" ]; then
  bin=$(mktemp -d /tmp/sparkevents-import-big.XXXXXX)/sparkevents
  go build -o "$bin" .
fi
psql_q() { psql "$DATABASE_URL" -X -qAt -v ON_ERROR_STOP=1 "$@"; }
secs() { date +%s.%N; }

echo "ROUND EMPTY_S TABLE_S RATIO"
for r in $(seq "$rounds"); do
  psql_q -c "DROP SCHEMA IF EXISTS sparkevents_import_big CASCADE" 2>/dev/null
  "$bin" migrate up --schema sparkevents_import_big >/dev/null
  t0=$(secs)
  "$bin" import --schema sparkevents_import_big --tenant "$tenant" --no-progress "$workbook" >/dev/null 2>&1
  t1=$(secs)
  "$bin" import --tenant "$tenant" --no-progress "$workbook" >/dev/null 2>&1
  t2=$(secs)
  psql_q -v tenant="$tenant" -v from="$from" <<'SQL'
DELETE FROM sparkevents.spark_events WHERE tenant = :'tenant' AND event_time >= :'from';
SQL
  psql_q -c "VACUUM ANALYZE sparkevents.spark_events"
  awk -v r="$r" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "%5d %7.2f %7.2f %5.2f\n", r, b - a, c - b, (c - b) / (b - a) }'
done
psql_q -c "DROP SCHEMA IF EXISTS sparkevents_import_big CASCADE" 2>/dev/null
