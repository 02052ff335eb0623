#!/usr/bin/env bash
# bench.sh: the go test benchmarks recorded in BENCHMARKS.md, 5 runs each
# (report medians), with a private test database for the storage ones.
# The load harness is separate: scripts/load.sh (see BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
export FLEETMON_TESTDB_DIR=${FLEETMON_TESTDB_DIR:-/tmp/fleetmon-benchdb-$(id -u)}
eval "$(scripts/testdb.sh env)"
trap 'scripts/testdb.sh stop >/dev/null 2>&1 || true' EXIT

go test -run '^$' -bench . -benchmem -count 5 ./ingest/jt808
go test -run '^$' -bench BenchmarkWriter -benchtime 40000x -count 5 ./track
go test -run '^$' -bench BenchmarkStatsMonth1000 -benchtime 5x -count 5 ./api
go test -run '^$' -bench BenchmarkScan -benchtime 3x -count 5 ./notify
go test -run '^$' -bench BenchmarkMatchMonth -benchtime 3x -count 5 ./fuel
