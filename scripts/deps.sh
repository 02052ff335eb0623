#!/usr/bin/env bash
# deps.sh installs the Debian packages that fleetmon's default mode and test suites need, on a
# fresh Debian 12 machine. Run it as root, or as a user with sudo.
#
#   scripts/deps.sh [pg|mqtt|mail|browser|ui|race|ha|backup|all]...     (no argument means all)
#
#   pg       PostgreSQL server + PostGIS 3, for track/localpg (fleetd without --db, make test)
#   mqtt     the Mosquitto broker, for ingest's MQTT tests
#   mail     an SMTP server (python3-aiosmtpd, run by /usr/bin/python3), for the notification tests
#   browser  Chromium, for the headless UI tests
#   ui       Node.js and npm, to build the web UI and run its tests (Debian 12's own 18.x does)
#   race     a C compiler: go test -race needs cgo, which Go turns off when there is no gcc
#   ha       Patroni and etcd, for the failover test (a primary and a synchronous standby)
#   backup   pgBackRest, for WAL archiving, base backups and the point-in-time restore drill
#
# It is idempotent: it installs only what is missing, runs apt-get update at most once and only
# when something must be installed, and never asks a question (DEBIAN_FRONTEND=noninteractive).
# It does not start the services the packages bring (the Debian-managed PostgreSQL cluster,
# the system Mosquitto): fleetmon runs its own, in its own directories and on its own ports.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# Debian's packaging of PostGIS 3 for a PostgreSQL major version N is postgresql-N-postgis-3.
POSTGIS=3

say() { echo "deps.sh: $*" >&2; }
die() { say "$*"; exit 1; }

usage() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
	exit 2
}

# as_root runs a command as root: directly, or through sudo (without a password prompt when
# there is no terminal to answer it, as in CI).
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		if [ -t 0 ]; then
			sudo env DEBIAN_FRONTEND=noninteractive "$@"
		else
			sudo -n env DEBIAN_FRONTEND=noninteractive "$@"
		fi
	else
		die "must run as root (or with sudo installed) to run: $*"
	fi
}

# installed says whether a package is installed (not merely known, half-installed or removed
# with its configuration left).
installed() {
	dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q ' installed$'
}

updated=0
apt_update() {
	if [ "$updated" -eq 0 ]; then
		say "apt-get update"
		as_root apt-get update -qq
		updated=1
	fi
}

# pg_majors prints the installed PostgreSQL server major versions, newest first: the order in
# which track/localpg picks its binaries.
pg_majors() {
	local bin
	for bin in /usr/lib/postgresql/*/bin/postgres; do
		[ -x "$bin" ] || continue
		basename "$(dirname "$(dirname "$bin")")"
	done | sort -rn
}

# missing collects the packages to install.
missing=()

want_pg() {
	local major
	major=$(pg_majors | head -n1)
	if [ -z "$major" ]; then
		# No server yet: take the major version Debian's "postgresql" package stands for
		# (15 on Debian 12) from the package lists, which need to be current for that.
		apt_update
		major=$(apt-cache depends postgresql 2>/dev/null |
			sed -n 's/^ *Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -n1)
		[ -n "$major" ] || die "apt-cache knows no postgresql package: is this Debian with main in sources.list?"
	fi
	local pkg
	for pkg in "postgresql-$major" "postgresql-$major-postgis-$POSTGIS"; do
		installed "$pkg" || missing+=("$pkg")
	done
	PG_MAJOR=$major
}

want_mqtt() {
	installed mosquitto || missing+=(mosquitto)
}

want_mail() {
	installed python3-aiosmtpd || missing+=(python3-aiosmtpd)
}

want_browser() {
	local pkg
	# fonts-liberation: without recommended packages Chromium has no fonts to render text with;
	# fonts-wqy-microhei: and none for Chinese (plates, units) in the UI tests' screenshots.
	for pkg in chromium fonts-liberation fonts-wqy-microhei; do
		installed "$pkg" || missing+=("$pkg")
	done
}

# NODE_MIN is the oldest Node.js major the UI's build (Vite 6) and tests run on: Debian 12's.
NODE_MIN=18

# want_ui asks for Debian's nodejs and npm unless a Node.js recent enough and an npm are already
# on the PATH, from Debian or elsewhere (a Node.js from another source brings its own npm, and
# Debian's npm package would conflict with it).
want_ui() {
	if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
		local major
		major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
		if [ "$major" -ge "$NODE_MIN" ]; then
			return
		fi
		die "node $(node --version) is older than Node.js $NODE_MIN, which the UI needs: remove it or put a newer one first in PATH"
	fi
	local pkg
	for pkg in nodejs npm; do
		installed "$pkg" || missing+=("$pkg")
	done
}

# want_race asks for Debian's gcc unless a C compiler is already on the PATH.
want_race() {
	command -v gcc >/dev/null 2>&1 && return
	local pkg
	for pkg in gcc libc6-dev; do
		installed "$pkg" || missing+=("$pkg")
	done
}

want_ha() {
	local pkg
	# python3-etcd is the client Patroni talks to etcd with: named here because patroni's
	# Depends lets any one of several stores satisfy it.
	for pkg in patroni python3-etcd etcd-server; do
		installed "$pkg" || missing+=("$pkg")
	done
}

want_backup() {
	installed pgbackrest || missing+=(pgbackrest)
}

# Our marker in a policy-rc.d we put in place; a leftover from a killed run is recognised by it.
POLICY=/usr/sbin/policy-rc.d
POLICY_MARK="# fleetmon scripts/deps.sh: keep services from starting during install"

# no_service_starts keeps packages from starting their services while they install, with
# Debian's policy-rc.d mechanism, unless the machine has a policy of its own (Docker images do).
policy_added=0
no_service_starts() {
	if [ -e "$POLICY" ] && ! grep -qF "$POLICY_MARK" "$POLICY"; then
		return
	fi
	printf '#!/bin/sh\n%s\nexit 101\n' "$POLICY_MARK" | as_root tee "$POLICY" >/dev/null
	as_root chmod 755 "$POLICY"
	policy_added=1
}

restore_service_starts() {
	if [ "$policy_added" -eq 1 ]; then
		as_root rm -f "$POLICY"
		policy_added=0
	fi
}

main() {
	local groups=("$@")
	[ ${#groups[@]} -gt 0 ] || groups=(all)
	local pg=0 mqtt=0 mail=0 browser=0 ui=0 race=0 ha=0 backup=0 g
	for g in "${groups[@]}"; do
		case "$g" in
		pg) pg=1 ;;
		mqtt) mqtt=1 ;;
		mail) mail=1 ;;
		browser) browser=1 ;;
		ui) ui=1 ;;
		race) race=1 ;;
		ha) ha=1 ;;
		backup) backup=1 ;;
		all) pg=1 mqtt=1 mail=1 browser=1 ui=1 race=1 ha=1 backup=1 ;;
		-h | --help | help) usage ;;
		*) say "unknown group: $g"; usage ;;
		esac
	done
	if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
		die "needs a Debian system (dpkg and apt-get)"
	fi
	# A policy left by a run that was killed mid-install would block every service start.
	if [ -e "$POLICY" ] && grep -qF "$POLICY_MARK" "$POLICY"; then
		say "removing $POLICY left by an interrupted run"
		as_root rm -f "$POLICY"
	fi

	[ "$pg" -eq 0 ] || want_pg
	[ "$mqtt" -eq 0 ] || want_mqtt
	[ "$mail" -eq 0 ] || want_mail
	[ "$browser" -eq 0 ] || want_browser
	[ "$ui" -eq 0 ] || want_ui
	[ "$race" -eq 0 ] || want_race
	[ "$ha" -eq 0 ] || want_ha
	[ "$backup" -eq 0 ] || want_backup

	if [ ${#missing[@]} -gt 0 ]; then
		apt_update
		say "installing ${missing[*]}"
		trap restore_service_starts EXIT
		trap 'exit 130' INT TERM
		no_service_starts
		# The lock timeout waits out a concurrent apt or unattended-upgrades instead of failing.
		as_root apt-get install -y -qq --no-install-recommends \
			-o DPkg::Lock::Timeout=300 "${missing[@]}"
		restore_service_starts
		trap - EXIT INT TERM
	fi

	if [ "$pg" -eq 1 ]; then
		[ -x "/usr/lib/postgresql/$PG_MAJOR/bin/pg_ctl" ] ||
			die "postgresql-$PG_MAJOR installed but /usr/lib/postgresql/$PG_MAJOR/bin/pg_ctl is missing"
		[ -f "/usr/share/postgresql/$PG_MAJOR/extension/postgis.control" ] ||
			die "postgresql-$PG_MAJOR-postgis-$POSTGIS installed but postgis.control is missing"
		getent passwd postgres >/dev/null || die "the OS user postgres is missing (postgresql-common creates it)"
		say "pg ok: PostgreSQL $PG_MAJOR with PostGIS $POSTGIS in /usr/lib/postgresql/$PG_MAJOR/bin"
	fi
	if [ "$mqtt" -eq 1 ]; then
		command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] ||
			die "mosquitto installed but not found"
		say "mqtt ok: /usr/sbin/mosquitto"
	fi
	if [ "$mail" -eq 1 ]; then
		/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null ||
			die "python3-aiosmtpd installed but /usr/bin/python3 cannot import aiosmtpd"
		say "mail ok: /usr/bin/python3 -m aiosmtpd"
	fi
	if [ "$browser" -eq 1 ]; then
		command -v chromium >/dev/null 2>&1 || die "chromium installed but not in PATH"
		say "browser ok: $(command -v chromium)"
	fi
	if [ "$ui" -eq 1 ]; then
		command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
			die "nodejs and npm installed but node or npm is not in PATH"
		say "ui ok: node $(node --version), npm $(npm --version)"
	fi
	if [ "$race" -eq 1 ]; then
		command -v gcc >/dev/null 2>&1 || die "gcc installed but not in PATH"
		say "race ok: $(command -v gcc)"
	fi
	if [ "$ha" -eq 1 ]; then
		command -v patroni >/dev/null 2>&1 || die "patroni installed but not in PATH"
		[ -x /usr/bin/etcd ] || die "etcd-server installed but /usr/bin/etcd is missing"
		say "ha ok: $(command -v patroni), /usr/bin/etcd"
	fi
	if [ "$backup" -eq 1 ]; then
		command -v pgbackrest >/dev/null 2>&1 || die "pgbackrest installed but not in PATH"
		say "backup ok: $(command -v pgbackrest) ($(pgbackrest version))"
	fi
}

main "$@"
