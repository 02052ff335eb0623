#!/usr/bin/env bash
# make run: fleetd with its private PostgreSQL+PostGIS in ./data, demo
# vehicles imported, the demo set up through fleetd's API (fleetsim setup:
# calendars, fences, a seal) and simulated terminals driving around 黄石市,
# some of them misusing their car so that each kind of alert shows within
# minutes. The start-up ends with a framed note of where to look, which plates
# do what and, on the first start, the administrator's one-time password. fleetd's and fleetsim's logs go to
# files in the data directory, so nothing scrolls the note away. Ctrl-C stops
# everything and ends with status 0.
set -euo pipefail
cd "$(dirname "$0")/.."

# Ctrl-C signals the terminal's foreground process group: under make, that is
# make too, which then dies of the signal (status 130, "Interrupt") whatever
# this script does. So the script runs itself as a job of its own, in the
# foreground: Ctrl-C reaches it alone, it stops fleetd, and make sees status 0.
if [ -t 0 ] && [ -z "${FLEETMON_RUN_JOB:-}" ]; then
	set -m
	FLEETMON_RUN_JOB=1 "$0" "$@" &
	fg %1 >/dev/null
	exit
fi

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

out=$DATA/fleetd.out
log=$DATA/fleetd.log
simlog=$DATA/fleetsim.log
: > "$out"
echo "starting fleetd (log: $log)"
bin/fleetd serve --jt808-addr "$JT808_ADDR" --http-addr "$HTTP_ADDR" > "$out" 2> "$log" &
fleetd=$!
sim=

# stop ends the simulator and fleetd (a background job ignores Ctrl-C, so it
# must be told) and exits with fleetd's status: 0 when it stopped cleanly.
stop() {
	trap - INT TERM
	echo
	echo "stopping fleetd"
	[ -z "$sim" ] || kill "$sim" 2>/dev/null || true
	kill "$fleetd" 2>/dev/null || true
	local status=0
	wait "$fleetd" || status=$?
	[ -z "$sim" ] || wait "$sim" 2>/dev/null || true
	if [ "$status" -ne 0 ]; then
		echo "fleetd exited with status $status; the end of $log:"
		tail -n 20 "$log"
	fi
	exit "$status"
}
trap stop INT TERM

# died reports a process that ended by itself, with the end of its log.
died() {
	echo "$1 stopped unexpectedly; the end of $2:" >&2
	tail -n 20 "$2" >&2
	[ -z "$sim" ] || kill "$sim" 2>/dev/null || true
	kill "$fleetd" 2>/dev/null || true
	wait
	exit 1
}

# fleetd writes its addresses (and the password, in the same write) once it
# listens; a first start creates its database first, which takes a while.
until grep -q '^http ' "$out"; do
	kill -0 "$fleetd" 2>/dev/null || died fleetd "$log"
	sleep 0.2
done
otp=$(sed -n 's/^created the administrator admin; .*: \([^ ]*\)$/\1/p' "$out")

# The demo's misuse needs demo calendars, a permitted area, a speed limit and a
# sealed car: fleetsim setup puts them in through fleetd's API, as an
# administrator would, with a token made for it and revoked straight after.
setuplog=$DATA/setup.log
plan=$DATA/demo-plan.txt
tokline=$(bin/fleetd token create --user admin --label "make run: demo set-up" 2> "$setuplog") || died "fleetd token create" "$setuplog"
tokid=$(echo "$tokline" | sed -n 's/^token \([0-9]*\) .*/\1/p')
FLEETSIM_TOKEN=${tokline##* } bin/fleetsim setup --url "http://$HTTP_ADDR" --count "$COUNT" > "$plan" 2>> "$setuplog" ||
	died "fleetsim setup" "$setuplog"
bin/fleetd token revoke "$tokid" > /dev/null 2>> "$setuplog" || died "fleetd token revoke" "$setuplog"

bin/fleetsim demo --addr "$JT808_ADDR" --count "$COUNT" > "$simlog" 2>&1 &
sim=$!
# Wait (a minute at most) for the simulated terminals to come online.
online=0
for ((i = 0; i < 300; i++)); do
	online=$(grep -c 'msg=online' "$simlog" || true)
	[ "$online" -lt "$COUNT" ] || break
	kill -0 "$sim" 2>/dev/null || died fleetsim "$simlog"
	sleep 0.2
done

rule='------------------------------------------------------------------------'
echo
echo "$rule"
echo "fleetmon is up. Ctrl-C stops it (the database too)."
echo
echo "  live map    http://$HTTP_ADDR/"
echo "  terminals   $online of $COUNT simulated terminals online, on $JT808_ADDR"
echo "  metrics     http://$HTTP_ADDR/metrics"
echo "  logs        $log"
echo "              $simlog"
echo
echo "  What the demo shows (its alerts come in the next five or six minutes):"
cat "$plan"
echo
if [ -n "$otp" ]; then
	echo "  Log in as admin with this one-time password (shown once; you choose"
	echo "  a new password at the first login):"
	echo
	echo "      user      admin"
	echo "      password  $otp"
else
	echo "  Log in as admin with the password you chose. Lost it? In another terminal:"
	echo "      FLEETMON_DATA_DIR=$DATA bin/fleetd users reset-password admin"
fi
echo "$rule"

# Until Ctrl-C: a process that ends by itself ends make run, with its log.
while :; do
	wait -n "$fleetd" "$sim" || true
	kill -0 "$fleetd" 2>/dev/null || died fleetd "$log"
	kill -0 "$sim" 2>/dev/null || died fleetsim "$simlog"
done
