#!/usr/bin/env bash
# Runs the whole test suite: the web UI's JavaScript unit tests (npm test in
# api/ui: Node's own test runner, no packages needed), vet, then go test
# -race on every package, with a private PostgreSQL+PostGIS test server
# under /tmp (started here, stopped on exit). Extra arguments go to go test
# alone (e.g. scripts/test.sh -run TestX ./ingest).
#
# go test runs with -json into scripts/testreport, which writes what plain go
# test would (failed tests, each package's closing ok/FAIL line) and then how
# many tests ran and every skipped test with its reason. With CI=true a test
# that would skip for a missing dependency fails instead, and any skip left
# fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

# The test cluster lives outside the checkout: a checkout under a 0700
# directory such as /root is out of reach of the postgres user that runs it.
export FLEETMON_TESTDB_DIR=${FLEETMON_TESTDB_DIR:-/tmp/fleetmon-testdb-$(id -u)-$(pwd | md5sum | cut -c1-8)}
report=$(mktemp -d /tmp/fleetmon-testreport.XXXXXX)
trap 'scripts/testdb.sh stop >/dev/null 2>&1 || true; rm -rf "$report"' EXIT
go build -o "$report/testreport" ./scripts/testreport
eval "$(scripts/testdb.sh env)"
echo "test database: $FLEETMON_TEST_DB"

if [ $# -eq 0 ]; then
	if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
		(cd api/ui && npm test --silent)
	elif [ "${CI:-}" = true ]; then
		echo "test.sh: node and npm are needed for the web UI's tests (Node.js 18 or later: scripts/deps.sh ui)" >&2
		exit 1
	else
		echo "test.sh: node not found: the web UI's JavaScript tests are skipped (scripts/deps.sh ui installs Node.js)" >&2
	fi
fi

# -v among the arguments asks for go test -v's output.
verbose=
for a in "$@"; do
	case "$a" in
	-v | -v=true | -test.v | -test.v=true) verbose=-v ;;
	esac
done

# A package's tests may take this long: cmd/fleetd's took 10.5 minutes in a clean root on the
# shared machine and 15 under a load average of 15, past go test's default of 10 minutes. A
# -timeout among the arguments comes later and wins.
go vet ./...
if [ $# -gt 0 ]; then
	go test -json -race -count=1 -timeout 30m "$@" 2>&1 | "$report/testreport" $verbose
else
	go test -json -race -count=1 -timeout 30m ./... 2>&1 | "$report/testreport"
fi
