#!/usr/bin/env bash
# make run: fleetd with its private PostgreSQL+PostGIS in ./data, demo
# vehicles imported, and simulated terminals driving around 黄石市.
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${FLEETSIM_COUNT:-20}
JT808_ADDR=${FLEETMON_JT808_ADDR:-127.0.0.1:6808}
HTTP_ADDR=${FLEETMON_HTTP_ADDR:-127.0.0.1:8080}
# fleetd keeps its database in ./data. As root, PostgreSQL runs as the
# postgres user, who must be able to reach it: a checkout under a 0700
# directory such as /root is not, so the data goes to /var/lib/fleetmon.
DATA=${FLEETMON_DATA_DIR:-data}
if [ "$(id -u)" = 0 ] && [ -z "${FLEETMON_DATA_DIR:-}" ] && ! setpriv --reuid=postgres --regid=postgres --clear-groups test -x "$PWD" 2>/dev/null; then
	DATA=/var/lib/fleetmon/demo
	echo "note: $PWD is out of the postgres user's reach; keeping the demo data in $DATA"
fi
export FLEETMON_DATA_DIR=$DATA
mkdir -p "$DATA"

bin/fleetsim csv --count "$COUNT" > "$DATA/demo-vehicles.csv"
bin/fleetd vehicles import "$DATA/demo-vehicles.csv"

bin/fleetd serve --jt808-addr "$JT808_ADDR" --http-addr "$HTTP_ADDR" &
fleetd=$!
trap 'kill $fleetd 2>/dev/null; wait $fleetd 2>/dev/null' EXIT INT TERM

# Wait for the gateway to accept connections.
for _ in $(seq 1 120); do
	if curl -fsS "http://$HTTP_ADDR/healthz" >/dev/null 2>&1; then break; fi
	kill -0 $fleetd 2>/dev/null || { echo "fleetd exited" >&2; exit 1; }
	sleep 0.5
done
echo "fleetd is up: metrics at http://$HTTP_ADDR/metrics; terminals on $JT808_ADDR"
bin/fleetsim demo --addr "$JT808_ADDR" --count "$COUNT"
