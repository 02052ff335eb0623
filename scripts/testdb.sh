#!/usr/bin/env bash
# testdb.sh runs the shared PostgreSQL + PostGIS cluster that the database tests of make test
# use, in .testdb/ at the repository root (FLEETMON_TESTDB_DIR overrides), with track/localpg.
#
#   scripts/testdb.sh start   start it (made on first use, adopted if it already runs) and print
#                             FLEETMON_TEST_DB=<url>: no spaces or quotes, so a Makefile can
#                             take the line as it is
#   scripts/testdb.sh env     the same as a shell line:  eval "$(scripts/testdb.sh env)"
#   scripts/testdb.sh stop    stop it (fast shutdown); nothing to do if it does not run
#
# The URL is the cluster's superuser: tests make and migrate their schemas with it (as the owner).
# The cluster also has the runtime role fleetmon_app; track/pgtest grants every test schema to it
# (Schema.AppConnString), and the tests run fleetd serve as that role, as production does.
#
# In a Makefile recipe:  eval "$$(scripts/testdb.sh env)" && go test -race ./...
# PostgreSQL and PostGIS come from scripts/deps.sh pg.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${FLEETMON_TESTDB_DIR:-$root/.testdb}

pgctl() {
	(cd "$root" && go run ./track/localpg/cmd/pgctl "$@" --dir "$dir")
}

case "${1:-}" in
start)
	pgctl start
	;;
env)
	line=$(pgctl start)
	# The URL percent-encodes quotes, so single quotes hold it safely.
	printf "export %s='%s'\n" "${line%%=*}" "${line#*=}"
	;;
stop)
	pgctl stop
	;;
*)
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
	exit 2
	;;
esac
