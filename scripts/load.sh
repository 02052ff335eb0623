#!/usr/bin/env bash
# load.sh: the load harness of BENCHMARKS.md. Starts fleetd (its own fresh
# PostgreSQL+PostGIS in a temporary data directory), imports N vehicles,
# drives them with fleetsim load, and then checks that every acknowledged
# report is in positions exactly once, row by row (fleetsim's ledger of every
# acknowledged position against the table). Prints fleetsim's report, fleetd's
# and PostgreSQL's CPU seconds and CPU per stored report, and the check.
#
# FLEETD=path runs another fleetd binary (e.g. main's, for a side-by-side
# comparison) with this tree's fleetsim.
#
#   scripts/load.sh [fleetsim load flags...]
#   e.g. scripts/load.sh --terminals 10000 --rate 2 --duration 5m
#        scripts/load.sh --terminals 2000 --rate 1 --batch 50 --duration 1m
#
# WATCH=N also connects N websocket clients to the live stream (an inspector
# of 湖北省/黄石市 with an API token) for the load's --duration and prints
# fleetsim watch's report: the delay from fleetd reading a report to the
# position reaching a client.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
. scripts/lib.sh

terminals=1000
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
	case "${args[i]}" in
	--terminals) terminals=${args[i + 1]} ;;
	--terminals=*) terminals=${args[i]#*=} ;;
	esac
done

[ -n "${NO_BUILD:-}" ] || make -s build
fleetd_bin=${FLEETD:-bin/fleetd}
data=$(mktemp -d /tmp/fleetmon-load.XXXXXX)
chmod 755 "$data"
log=$data/fleetd.log
phone_base=13900000000
bin/fleetsim csv --count "$terminals" --phone-base "$phone_base" > "$data/load.csv"
"$fleetd_bin" vehicles import --data-dir "$data" "$data/load.csv"
if [ -n "${WATCH:-}" ]; then
	"$fleetd_bin" users add --data-dir "$data" --name watch --role inspector --unit 湖北省/黄石市 > /dev/null
	token=$("$fleetd_bin" token create --data-dir "$data" --user watch --label load.sh | awk '{ t = $NF } END { print t }')
fi

"$fleetd_bin" serve --data-dir "$data" --jt808-addr 127.0.0.1:${JT808_PORT:-16808} --http-addr 127.0.0.1:${HTTP_PORT:-18080} \
	--log-level warn --pprof > /dev/null 2> "$log" &
fleetd=$!
cleanup() {
	kill "$fleetd" 2>/dev/null || true
	wait "$fleetd" 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$data"
}
trap cleanup EXIT
wait_port 127.0.0.1 ${JT808_PORT:-16808}

# CPU seconds (user + system) of a process, and of this run's PostgreSQL: its
# postmaster, the children it has reaped (cutime + cstime) and its live
# children. Only this cluster's processes: the machine may run others.
cpu_of() { awk '{ printf "%.2f\n", ($14 + $15) / 100 }' "/proc/$1/stat"; }
pg_cpu() {
	local pm total p
	pm=$(head -1 "$data/pg/pgdata/postmaster.pid")
	total=$(awk '{ printf "%.2f", ($14 + $15 + $16 + $17) / 100 }' "/proc/$pm/stat")
	for p in $(pgrep -P "$pm"); do
		total=$(awk -v t="$total" '{ printf "%.2f", t + ($14 + $15) / 100 }' "/proc/$p/stat" 2>/dev/null || echo "$total")
	done
	echo "$total"
}
for _ in $(seq 100); do [ -s "$data/pg/pgdata/postmaster.pid" ] && break; sleep 0.1; done
fleetd0=$(cpu_of "$fleetd")
pg0=$(pg_cpu)
start=$(date +%s.%N)

if [ -n "${PROFILE:-}" ]; then
	# PROFILE=SECONDS: a CPU profile of fleetd during the run, into $PROFILE_OUT.
	(sleep 15; go tool pprof -proto -output "${PROFILE_OUT:-/tmp/fleetd.pprof}" \
		"http://127.0.0.1:${HTTP_PORT:-18080}/debug/pprof/profile?seconds=$PROFILE" >/dev/null 2>&1) &
fi
watcher=
if [ -n "${WATCH:-}" ]; then
	duration=1m
	for ((i = 0; i < ${#args[@]}; i++)); do
		case "${args[i]}" in
		--duration) duration=${args[i + 1]} ;;
		--duration=*) duration=${args[i]#*=} ;;
		esac
	done
	# Measured after the terminals have logged in and reached their rate.
	(sleep "${WATCH_DELAY:-20}" && bin/fleetsim watch --url http://127.0.0.1:${HTTP_PORT:-18080} --token "$token" \
		--clients "$WATCH" --warmup 5s --duration "${WATCH_DURATION:-$duration}" > "$data/watch.txt" 2>&1) &
	watcher=$!
fi
set +e
load0=$(cut -d' ' -f1 /proc/loadavg)
bin/fleetsim load --addr 127.0.0.1:${JT808_PORT:-16808} --phone-base "$phone_base" --json --ledger "$data/ledger.csv" "$@" > "$data/report.json"
status=$?
set -e
elapsed=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.1f", a - b }')
fleetd1=$(cpu_of "$fleetd")
pg1=$(pg_cpu)

db=$(go run ./track/localpg/cmd/pgctl start --dir "$data/pg")
db=${db#*=}
stored=$(psql -qAt "$db" -c "SELECT count(*) FROM positions")
dups=$(psql -qAt "$db" -c "SELECT count(*) - count(DISTINCT (vehicle_id, device_time, fix_hash)) FROM positions")

cat "$data/report.json"
echo
if [ -n "$watcher" ]; then
	wait "$watcher" || true
	cat "$data/watch.txt"
	# fleetd's own view (fleetmon_live_delivery_seconds): from reading a report to writing its
	# position to a client's socket, without the clients' scheduling; quantiles as bucket bounds.
	curl -fsS http://127.0.0.1:${HTTP_PORT:-18080}/metrics | awk '
		/^fleetmon_live_delivery_seconds_bucket/ {
			match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
			n++; bound[n] = le; cum[n] = $NF
		}
		/^fleetmon_live_delivery_seconds_count/ { total = $NF }
		END {
			if (total == 0) exit
			split("0.5 0.9 0.99 0.999", qs, " ")
			line = "fleetd delivery (in-server, bucket bounds):"
			for (i = 1; i <= 4; i++) {
				for (j = 1; j <= n; j++) if (cum[j] >= qs[i] * total) break
				b = bound[j]; if (b != "+Inf") b = (b * 1000) "ms"
				line = line sprintf("  p%s ≤ %s", qs[i] * 100, b)
			}
			print line sprintf("  (%d positions)", total)
		}'
fi
# Every acknowledged fix once: rows = positions acknowledged − fixes that
# repeat the terminal's previous one (the platform keeps one row for those).
expected=$(grep -o '"positions_acked": *[0-9]*' "$data/report.json" | grep -o '[0-9]*$')
repeats=$(grep -o '"same_fix_repeats": *[0-9]*' "$data/report.json" | grep -o '[0-9]*$')
expected=$((expected - repeats))
# Row by row: every distinct acknowledged fix (the ledger) against the rows,
# matched on vehicle, device time and every field of the fix. missing: acked,
# not stored; dup: stored more than once; extra: stored, never acknowledged
# (possible only for reports left unacknowledged).
read -r acked_fixes missing dup extra < <(psql -qAt -F ' ' "$db" <<SQL
SET work_mem = '1GB';
CREATE TEMP TABLE acked (phone text, t bigint, lat bigint, lon bigint, alt integer, speed integer,
    heading integer, alarm bigint, status bigint);
\copy acked FROM '$data/ledger.csv' WITH (FORMAT csv)
WITH a AS (
    SELECT DISTINCT tm.vehicle_id, a.t, a.lat, a.lon, a.alt, a.speed, a.heading, a.alarm, a.status
    FROM acked a LEFT JOIN terminals tm ON tm.phone = ltrim(a.phone, '0')
), p AS (
    SELECT vehicle_id, extract(epoch FROM device_time)::bigint AS t, round(ST_Y(geom) * 1e6)::bigint AS lat,
        round(ST_X(geom) * 1e6)::bigint AS lon, altitude_m AS alt, round(speed_kmh * 10)::integer AS speed,
        heading::integer AS heading, alarm, status, count(*) AS n
    FROM positions GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
)
SELECT count(a.t), count(*) FILTER (WHERE p.n IS NULL), count(*) FILTER (WHERE p.n > 1),
    coalesce(sum(p.n) FILTER (WHERE a.t IS NULL), 0)
FROM a FULL JOIN p USING (vehicle_id, t, lat, lon, alt, speed, heading, alarm, status);
SQL
)
load1=$(cut -d' ' -f1 /proc/loadavg)
fcpu=$(awk -v a="$fleetd1" -v b="$fleetd0" 'BEGIN { printf "%.1f", a - b }')
pcpu=$(awk -v a="$pg1" -v b="$pg0" 'BEGIN { printf "%.1f", a - b }')
echo "wall seconds:          $elapsed (load average $load0 before, $load1 after)"
echo "fleetd CPU seconds:    $fcpu"
echo "postgres CPU seconds:  $pcpu"
echo "CPU per stored report: $(awk -v f="$fcpu" -v p="$pcpu" -v n="$stored" 'BEGIN { if (n > 0) printf "%.1f µs (fleetd %.1f + PostgreSQL %.1f)", (f + p) * 1e6 / n, f * 1e6 / n, p * 1e6 / n }')"
echo "positions stored:      $stored (expected $expected; duplicate keys: $dups)"
echo "row by row:            $acked_fixes distinct fixes acknowledged: $missing missing, $dup stored twice or more, $extra rows never acknowledged"
unacked=$(grep -o '"positions_unacknowledged": *[0-9]*' "$data/report.json" | grep -o '[0-9]*$' || echo 0)
if [ "$status" = 0 ] && { [ "$stored" != "$expected" ] || [ "$dups" != 0 ] || [ "$missing" != 0 ] ||
	[ "$dup" != 0 ] || { [ "$extra" != 0 ] && [ "${unacked:-0}" = 0 ]; }; }; then
	echo "FAIL: acknowledged reports not stored exactly once"
	status=1
fi
echo "fleetsim exit status:  $status"
if grep -q '"level":"ERROR"\|level=ERROR' "$log"; then
	echo "fleetd logged errors:"
	grep 'ERROR' "$log" | head -5
fi
exit "$status"
