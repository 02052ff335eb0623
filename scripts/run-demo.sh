#!/usr/bin/env bash
# make run: fleetd with its private PostgreSQL+PostGIS in ./data, demo
# vehicles imported, and simulated terminals driving around 黄石市.
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${FLEETSIM_COUNT:-20}
JT808_ADDR=${FLEETMON_JT808_ADDR:-127.0.0.1:6808}
HTTP_ADDR=${FLEETMON_HTTP_ADDR:-127.0.0.1:8080}
. scripts/lib.sh
# fleetd keeps its database in ./data (see default_data_dir for root).
DATA=${FLEETMON_DATA_DIR:-$(default_data_dir)}
if [ -z "${FLEETMON_DATA_DIR:-}" ] && [ "$DATA" != data ]; then
	echo "note: keeping the demo data in $DATA: the postgres user cannot reach $PWD"
fi
export FLEETMON_DATA_DIR=$DATA
mkdir -p "$DATA"

bin/fleetsim csv --count "$COUNT" > "$DATA/demo-vehicles.csv"
bin/fleetd vehicles import "$DATA/demo-vehicles.csv"

bin/fleetd serve --jt808-addr "$JT808_ADDR" --http-addr "$HTTP_ADDR" &
fleetd=$!
trap 'kill $fleetd 2>/dev/null; wait $fleetd 2>/dev/null' EXIT INT TERM

wait_port "${JT808_ADDR%:*}" "${JT808_ADDR##*:}"
echo "fleetd is up: the live map at http://$HTTP_ADDR/ (log in as admin), metrics at http://$HTTP_ADDR/metrics; terminals on $JT808_ADDR"
bin/fleetsim demo --addr "$JT808_ADDR" --count "$COUNT"
