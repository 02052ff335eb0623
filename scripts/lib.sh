# Shared shell helpers for the scripts in this folder. Source it.

# wait_port HOST PORT [SECONDS] waits until a TCP port accepts connections.
wait_port() {
	local host=$1 port=$2 secs=${3:-120} i
	for ((i = 0; i < secs * 10; i++)); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "nothing listens on $host:$port after ${secs}s" >&2
	return 1
}

# default_data_dir prints the data directory fleetd should use: ./data, or
# /var/lib/fleetmon/demo when running as root from a checkout the postgres
# user cannot reach (e.g. under /root), since PostgreSQL runs as postgres.
default_data_dir() {
	if [ "$(id -u)" = 0 ] && ! setpriv --reuid=postgres --regid=postgres --clear-groups test -x "$PWD" 2>/dev/null; then
		echo /var/lib/fleetmon/demo
	else
		echo data
	fi
}
