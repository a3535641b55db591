#!/usr/bin/env bash
# check.sh runs every query of the library through psql exactly as an analyst
# would, stopping at the first error, so a file that only works through the
# Go runner (or not at all) fails CI.
#
#   DATABASE_URL=postgres://... sql/check.sh            # schema sparkevents
#   DATABASE_URL=postgres://... SCHEMA=other sql/check.sh
#
# The session settings are the ones every file's example documents.
set -euo pipefail

: "${DATABASE_URL:?set DATABASE_URL to the database holding the events}"
schema=${SCHEMA:-sparkevents}
dir=$(cd "$(dirname "$0")" && pwd)
export PGOPTIONS="-c search_path=$schema -c timezone=UTC"

status=0
for f in "$dir"/*.sql; do
	if out=$(psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -P pager=off -f "$f" 2>&1); then
		echo "ok   $(basename "$f") ($(printf '%s\n' "$out" | grep -c '') lines)"
	else
		echo "FAIL $(basename "$f")"
		printf '%s\n' "$out" | sed 's/^/     /'
		status=1
	fi
done
exit $status
