#!/usr/bin/env bash
# Runs the whole test suite: the web UI's JavaScript unit tests (npm test in
# api/ui: Node's own test runner, no packages needed), vet, then go test
# -race on every package, with a private PostgreSQL+PostGIS test server
# under /tmp (started here, stopped on exit). Extra arguments go to go test
# alone (e.g. scripts/test.sh -run TestX ./ingest).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

# The test cluster lives outside the checkout: a checkout under a 0700
# directory such as /root is out of reach of the postgres user that runs it.
export FLEETMON_TESTDB_DIR=${FLEETMON_TESTDB_DIR:-/tmp/fleetmon-testdb-$(id -u)-$(pwd | md5sum | cut -c1-8)}
eval "$(scripts/testdb.sh env)"
trap 'scripts/testdb.sh stop >/dev/null 2>&1 || true' EXIT
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

go vet ./...
if [ $# -gt 0 ]; then
	go test -race -count=1 "$@"
else
	go test -race -count=1 -timeout 15m ./...
fi
