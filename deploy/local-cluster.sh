#!/usr/bin/env bash
# local-cluster.sh: the deploy/compose.yaml topology on one machine, without containers.
#
#   deploy/local-cluster.sh up [DIR]       build, start, wait until both replicas are ready
#   deploy/local-cluster.sh status [DIR]   which processes run
#   deploy/local-cluster.sh down [DIR]     stop everything started by up (DIR is kept)
#
# up starts, on 127.0.0.1 and on free ports only (never 4222, 6379 or 8080):
#   - three nats-server nodes in one cluster, JetStream stores under DIR/nats/nN,
#     nats-server built from the Go module this repository requires;
#   - one redis-server with appendonly yes, its files under DIR/redis;
#   - two invitesvc replicas (go build ./cmd/invitesvc) sharing them, --stream-replicas 3,
#     with a generated HS256 secret kept in DIR/jwt-secret, and a delivery identity in
#     DIR/delivery-identity: their emails are files in DIR/svc-a/outbox and DIR/svc-b/outbox.
# It writes DIR/env (NATS_URL, REDIS_URL, INVITESVC_A, INVITESVC_B, JWT_SECRET_FILE, ...),
# DIR/pids and the logs in DIR/logs. up after down on the same DIR keeps the stream, the
# Redis data and the secret. DIR defaults to ${TMPDIR:-/tmp}/invitesvc-local-cluster.
# Every wait is bounded; a replica still starting after 30 s (an answer from NATS lost) is
# restarted, twice at most.
#
# Environment:
#   LOCAL_CLUSTER_CACHE      where the nats-server binary is cached, one per module
#                            version (default DIR/bin)
#   LOCAL_CLUSTER_TIMEOUT    seconds to wait for each step to become ready (default 90)
#   LOCAL_CLUSTER_OWNER_PID  when set, everything is stopped once that process is gone
#                            (the test sets its own pid, so nothing outlives a killed test)
#
# Needs bash, go, redis-server and python3 (python3 only to ask the kernel for free ports;
# without it, random ports are probed).
set -euo pipefail

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
REPO=$(cd "$(dirname "$SELF")/.." && pwd)
TIMEOUT=${LOCAL_CLUSTER_TIMEOUT:-90}
STUCK=$((TIMEOUT < 30 ? TIMEOUT : 30))
CLUSTER_NAME=invitesvc-local

log() { printf 'local-cluster: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

usage() {
	sed -n '2,6p' "$SELF" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# resolve_dir DIR: an absolute path with no characters that would need quoting in DIR/env.
resolve_dir() {
	local dir=${1:-${TMPDIR:-/tmp}/invitesvc-local-cluster}
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[[ $dir =~ ^[A-Za-z0-9._/@+-]+$ ]] || die "DIR $dir: use a path of letters, digits and ._/@+- only"
	printf '%s' "$dir"
}

need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 is needed and not on the PATH ($2)"
}

# free_ports N: N distinct free loopback TCP ports, asked of the kernel.
free_ports() {
	local n=$1 ports
	if command -v python3 >/dev/null 2>&1; then
		ports=$(python3 - "$n" <<-'EOF'
			import socket, sys
			avoid = {4222, 6222, 8222, 6379, 8080}
			socks, ports = [], []
			while len(ports) < int(sys.argv[1]):
			    s = socket.socket()
			    s.bind(("127.0.0.1", 0))
			    socks.append(s)
			    port = s.getsockname()[1]
			    if port not in avoid:
			        ports.append(port)
			print(" ".join(map(str, ports)))
		EOF
		)
	else
		# No python3: probe random ports below the usual ephemeral range.
		local -a picked=()
		local port tries=0
		while ((${#picked[@]} < n)); do
			((tries++ < 1000)) || die "found no free ports"
			port=$((20000 + RANDOM % 12000))
			[[ " ${picked[*]} " == *" $port "* ]] && continue
			if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				picked+=("$port")
			fi
		done
		ports=${picked[*]}
	fi
	printf '%s' "$ports"
}

# http_get PORT PATH: GET http://127.0.0.1:PORT/PATH with a 5 s bound; prints the body and
# succeeds when the status is 200.
http_get() {
	local status="" response=""
	{ exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
	printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$2" "$1" >&3 || true
	IFS= read -r -d '' -t 5 response <&3 || true
	exec 3>&-
	read -r _ status _ <<<"$response"
	printf '%s' "${response#*$'\r\n\r\n'}"
	[[ $status == 200 ]]
}

http_ok() { http_get "$1" "$2" >/dev/null; }

# streams_led PORT: whether every stream the node at monitoring PORT hosts has a leader. A
# JetStream API request made to a stream still electing its leader (after a restart of the
# whole cluster) can go unanswered, so the replicas start only once this holds.
streams_led() {
	local jsz groups led
	jsz=$(http_get "$1" '/jsz?streams=true') || return 1
	groups=$(grep -c '"raft_group": "S-' <<<"$jsz" || true)
	led=$(grep -A1 '"raft_group": "S-' <<<"$jsz" | grep -c '"leader": "' || true)
	((groups == led))
}

# redis_ok PORT: whether redis answers PING.
redis_ok() {
	local reply=""
	{ exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
	printf 'PING\r\n' >&3 || true
	IFS= read -r -t 5 reply <&3 || true
	exec 3>&-
	[[ $reply == "+PONG"* ]]
}

# alive PID: whether PID runs. A zombie does not: the processes outlive up, so whoever
# inherits them reaps them, and maybe late.
alive() {
	local stat
	stat=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ -n $stat && $stat != Z* ]]
}

# owns PID MATCH: whether PID runs and its command line holds MATCH (not a reused pid).
owns() {
	local args
	alive "$1" || return 1
	args=$(ps -o args= -p "$1" 2>/dev/null) || return 1
	[[ $args == *"$2"* ]]
}

# start NAME MATCH CMD...: start CMD in the background, logging to DIR/logs/NAME.log, and
# record "PID NAME MATCH" in DIR/pids.
start() {
	local name=$1 match=$2
	shift 2
	"$@" >"$DIR/logs/$name.log" 2>&1 </dev/null &
	local pid=$!
	printf '%s %s %s\n' "$pid" "$name" "$match" >>"$DIR/pids"
	log "started $name (pid $pid)"
}

# pid_of NAME: the pid recorded for NAME.
pid_of() { awk -v n="$1" '$2 == n { pid = $1 } END { print pid }' "$DIR/pids"; }

# wait_for WHAT NAME... -- CHECK ARGS...: poll CHECK until it succeeds or WAIT_LIMIT (default
# TIMEOUT) seconds pass; fails early, with the log's tail, if a named process has exited.
wait_for() {
	local what=$1 names=() name limit=${WAIT_LIMIT:-$TIMEOUT}
	local deadline=$((SECONDS + limit))
	shift
	while [[ $1 != -- ]]; do
		names+=("$1")
		shift
	done
	shift
	until "$@"; do
		for name in "${names[@]}"; do
			if ! alive "$(pid_of "$name")"; then
				log "$name exited while waiting for $what; the end of DIR/logs/$name.log:"
				tail -n 30 "$DIR/logs/$name.log" >&2 || true
				return 1
			fi
		done
		if ((SECONDS >= deadline)); then
			log "timed out after ${limit}s waiting for $what; the ends of the logs of ${names[*]}:"
			for name in "${names[@]}"; do
				log "--- $name"
				tail -n 15 "$DIR/logs/$name.log" >&2 || true
			done
			return 1
		fi
		sleep 0.2
	done
}

# nats_server_bin: the path of nats-server built from the required module version.
nats_server_bin() {
	local version cache bin tmp
	version=$(cd "$REPO" && go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2) ||
		die "cannot read the nats-server module version from $REPO/go.mod"
	cache=${LOCAL_CLUSTER_CACHE:-$DIR/bin}
	mkdir -p "$cache"
	bin=$cache/nats-server-$version
	if [[ ! -x $bin ]]; then
		log "building nats-server $version into $cache (once per version; takes a while)"
		tmp=$(mktemp "$cache/.nats-server-$version.XXXXXX")
		(cd "$REPO" && go build -o "$tmp" github.com/nats-io/nats-server/v2) ||
			{
				rm -f "$tmp"
				die "go build github.com/nats-io/nats-server/v2 failed"
			}
		mv -f "$tmp" "$bin"
	fi
	printf '%s' "$bin"
}

write_nats_conf() { # NAME CLIENT_PORT HTTP_PORT CLUSTER_PORT ROUTES
	mkdir -p "$DIR/nats/$1"
	cat >"$DIR/nats/$1.conf" <<-EOF
		# Written by local-cluster.sh.
		server_name: $1
		listen: 127.0.0.1:$2
		http: 127.0.0.1:$3
		jetstream {
		  store_dir: "$DIR/nats/$1"
		  max_memory_store: 64MB
		  max_file_store: 1GB
		  # fsync before acknowledging: an audit log must survive a power loss.
		  sync_interval: always
		}
		cluster {
		  name: $CLUSTER_NAME
		  listen: 127.0.0.1:$4
		  routes: [$5]
		}
	EOF
}

# start_replica a|b HTTP_PORT NATS_URL REDIS_URL: start a replica and wait until it is ready.
# One still starting after STUCK seconds (waiting for an answer from NATS that was lost) is
# restarted, twice at most.
start_replica() {
	local name=invitesvc-$1 port=$2 attempt pid
	for attempt in 1 2 3; do
		start "$name" "--http-addr 127.0.0.1:$port" "$DIR/bin/invitesvc" \
			--http-addr "127.0.0.1:$port" --nats-url "$3" --redis-url "$4" \
			--stream-replicas 3 --data-dir "$DIR/svc-$1"
		if WAIT_LIMIT=$STUCK wait_for "$name to be ready (/readyz)" "$name" -- http_ok "$port" /readyz 2>>"$DIR/logs/up.log"; then
			return 0
		fi
		pid=$(pid_of "$name")
		alive "$pid" || break # it exited: not a lost answer
		if grep -q '"invitesvc listening"' "$DIR/logs/$name.log"; then
			# Started but not ready yet: give it the rest of the time.
			wait_for "$name to be ready (/readyz)" "$name" -- http_ok "$port" /readyz
			return
		fi
		log "$name still starting after ${STUCK}s (attempt $attempt): restarting it"
		cp "$DIR/logs/$name.log" "$DIR/logs/$name.stuck-$attempt.log"
		{
			kill -KILL "$pid"
			wait "$pid" # a child of this shell: reaps it, and quietly
		} 2>/dev/null || true
		grep -v "^$pid " "$DIR/pids" >"$DIR/pids.tmp" || true
		mv -f "$DIR/pids.tmp" "$DIR/pids"
	done
	log "$name did not start; the end of DIR/logs/$name.log:"
	tail -n 30 "$DIR/logs/$name.log" >&2 || true
	return 1
}

cmd_up() {
	DIR=$(resolve_dir "${1:-}")
	need go "https://go.dev/dl/"
	need redis-server "Debian: apt-get install redis-server"
	need ps "Debian: apt-get install procps"
	if [[ -s $DIR/pids ]] && running_any; then
		die "a cluster from $DIR is already running: run '$SELF down $DIR' first"
	fi
	mkdir -p "$DIR/logs" "$DIR/bin" "$DIR/redis" "$DIR/svc-a" "$DIR/svc-b"
	: >"$DIR/pids"
	rm -f "$DIR/env"

	local nats_bin
	nats_bin=$(nats_server_bin)
	log "building invitesvc"
	(cd "$REPO" && go build -o "$DIR/bin/invitesvc" ./cmd/invitesvc) || die "go build ./cmd/invitesvc failed"

	# From here on, a failure stops whatever was started.
	trap 'status=$?; if ((status != 0)); then log "up failed: stopping what was started (logs in $DIR/logs)"; stop_all; fi' EXIT

	local -a p
	read -r -a p <<<"$(free_ports 12)"
	((${#p[@]} == 12)) || die "could not find 12 free ports"
	local -a client=("${p[@]:0:3}") monitor=("${p[@]:3:3}") route=("${p[@]:6:3}")
	local redis_port=${p[9]} http_a=${p[10]} http_b=${p[11]}

	local routes="" i
	for i in 0 1 2; do routes+="${routes:+, }nats-route://127.0.0.1:${route[i]}"; done
	for i in 0 1 2; do
		write_nats_conf "n$((i + 1))" "${client[i]}" "${monitor[i]}" "${route[i]}" "$routes"
		start "n$((i + 1))" "$DIR/nats/n$((i + 1)).conf" "$nats_bin" -c "$DIR/nats/n$((i + 1)).conf"
	done
	start redis "127.0.0.1:$redis_port" redis-server --bind 127.0.0.1 --port "$redis_port" \
		--dir "$DIR/redis" --appendonly yes --appendfsync everysec --save "" \
		--daemonize no --protected-mode yes --logfile ""

	for i in 0 1 2; do
		wait_for "NATS node n$((i + 1)) to join the JetStream cluster (/healthz)" n1 n2 n3 -- \
			http_ok "${monitor[i]}" /healthz
	done
	for i in 0 1 2; do
		wait_for "every stream on n$((i + 1)) to have a leader (/jsz)" n1 n2 n3 -- \
			streams_led "${monitor[i]}"
	done
	wait_for "redis-server to answer PING" redis -- redis_ok "$redis_port"
	log "NATS cluster $CLUSTER_NAME and Redis are up"

	if [[ ! -s $DIR/jwt-secret ]]; then
		(
			umask 077
			head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/jwt-secret"
		)
	fi
	local nats_url="" redis_url=redis://127.0.0.1:$redis_port/0
	for i in 0 1 2; do nats_url+="${nats_url:+,}nats://127.0.0.1:${client[i]}"; done
	# Only the settings given here: none inherited from the caller's environment. The
	# secret goes by environment, not on the command line that ps shows.
	local var
	for var in "${!INVITESVC_@}"; do unset "$var"; done
	INVITESVC_JWT_SECRET=$(<"$DIR/jwt-secret")
	export INVITESVC_JWT_SECRET
	# The replicas sign events with one key, and verify each other's with it.
	if [[ ! -s $DIR/signing.key ]]; then
		(umask 077 && openssl genpkey -algorithm ed25519 -out "$DIR/signing.key") || die "openssl genpkey failed"
	fi
	export INVITESVC_SIGNING_KEY=$DIR/signing.key
	# And keep the keys of personal data under one key-encryption key: a replica with
	# another would be refused at start (README "Personal data and erasure").
	if [[ ! -s $DIR/key-encryption-key ]]; then
		(umask 077 && openssl rand -hex 32 >"$DIR/key-encryption-key") || die "openssl rand failed"
	fi
	export INVITESVC_KEY_ENCRYPTION_KEY_FILE=$DIR/key-encryption-key
	# Both run the mailer with one delivery identity (one sends at a time); with no SMTP
	# server here, each writes its emails to its outbox, DIR/svc-a/outbox or DIR/svc-b/outbox.
	if [[ ! -s $DIR/delivery-identity ]]; then
		(cd "$REPO" && umask 077 && go run filippo.io/age/cmd/age-keygen -o "$DIR/delivery-identity.tmp" 2>/dev/null &&
			mv "$DIR/delivery-identity.tmp" "$DIR/delivery-identity") || die "age-keygen failed"
	fi
	export INVITESVC_DELIVERY_IDENTITY_FILE=$DIR/delivery-identity
	export INVITESVC_ACCEPT_URL="http://127.0.0.1:$http_a/api/v1/organizations/invitations/{token}"
	# One replica after the other: the first creates the stream, the second finds it. Two
	# creating it at once can leave a request unanswered by the cluster (seen with
	# nats-server 2.15), and the service would wait for that answer (see start_replica).
	start_replica a "$http_a" "$nats_url" "$redis_url"
	start_replica b "$http_b" "$nats_url" "$redis_url"
	unset INVITESVC_JWT_SECRET INVITESVC_SIGNING_KEY INVITESVC_KEY_ENCRYPTION_KEY_FILE INVITESVC_DELIVERY_IDENTITY_FILE INVITESVC_ACCEPT_URL

	local monitors=""
	for i in 0 1 2; do monitors+="${monitors:+,}http://127.0.0.1:${monitor[i]}"; done
	cat >"$DIR/env.tmp" <<-EOF
		NATS_URL=$nats_url
		NATS_MONITOR_URLS=$monitors
		REDIS_URL=$redis_url
		INVITESVC_A=http://127.0.0.1:$http_a
		INVITESVC_B=http://127.0.0.1:$http_b
		JWT_SECRET_FILE=$DIR/jwt-secret
		OUTBOXES=$DIR/svc-a/outbox,$DIR/svc-b/outbox
		LOG_DIR=$DIR/logs
		NATS_SERVER_BIN=$nats_bin
	EOF
	mv -f "$DIR/env.tmp" "$DIR/env"

	if [[ -n ${LOCAL_CLUSTER_OWNER_PID:-} ]]; then
		nohup "$SELF" _watch "$DIR" "$LOCAL_CLUSTER_OWNER_PID" >>"$DIR/logs/watch.log" 2>&1 </dev/null &
		printf '%s\n' "$!" >"$DIR/watch.pid"
	fi
	trap - EXIT
	log "ready: replicas at http://127.0.0.1:$http_a and http://127.0.0.1:$http_b"
	cat >&2 <<-EOF
		  source $DIR/env     # NATS_URL, REDIS_URL, INVITESVC_A, INVITESVC_B, JWT_SECRET_FILE
		  go run ./cmd/invitectl token --secret-file $DIR/jwt-secret --sub admin --perm '*=org.read,org.user.read,org.user.invite,org.admin'
		  $SELF down $DIR
	EOF
}

# running_any: whether any process recorded in DIR/pids still runs.
running_any() {
	local pid name match
	while read -r pid name match; do
		owns "$pid" "$match" && return 0
	done <"$DIR/pids"
	return 1
}

# stop_group NAME...: SIGTERM the named processes, wait for them (bounded), then SIGKILL.
stop_group() {
	local name pid match want=" $* " deadline
	local -a pids=()
	while read -r pid name match; do
		[[ $want == *" $name "* ]] || continue
		if owns "$pid" "$match"; then
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
	done <"$DIR/pids"
	((${#pids[@]} > 0)) || return 0
	deadline=$((SECONDS + 35)) # invitesvc drains for up to 25 s
	for pid in "${pids[@]}"; do
		while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
		if alive "$pid"; then
			log "pid $pid did not stop on SIGTERM: killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
}

# stop_all: the replicas first (they drain), then Redis, then the NATS nodes.
stop_all() {
	[[ -f $DIR/pids ]] || return 0
	stop_group invitesvc-a invitesvc-b
	stop_group redis
	stop_group n1 n2 n3
	if running_any; then
		log "error: some processes of $DIR/pids are still running"
		return 1
	fi
	rm -f "$DIR/pids" "$DIR/env"
}

cmd_down() {
	DIR=$(resolve_dir "${1:-}")
	if [[ -f $DIR/watch.pid ]]; then
		local watcher
		watcher=$(<"$DIR/watch.pid")
		if [[ $watcher != "$$" ]] && owns "$watcher" "_watch"; then
			kill -TERM "$watcher" 2>/dev/null || true
		fi
		rm -f "$DIR/watch.pid"
	fi
	if [[ ! -f $DIR/pids ]]; then
		log "nothing running from $DIR"
		return 0
	fi
	stop_all
	log "stopped (data kept in $DIR)"
}

cmd_status() {
	DIR=$(resolve_dir "${1:-}")
	[[ -s $DIR/pids ]] || {
		log "nothing running from $DIR"
		return 1
	}
	local pid name match down=0
	while read -r pid name match; do
		if owns "$pid" "$match"; then
			printf '%-12s pid %-8s running\n' "$name" "$pid"
		else
			printf '%-12s pid %-8s STOPPED\n' "$name" "$pid"
			down=1
		fi
	done <"$DIR/pids"
	[[ -f $DIR/env ]] && cat "$DIR/env"
	return "$down"
}

# _watch DIR OWNER: stop the cluster once OWNER has exited.
cmd_watch() {
	local owner=$2
	while alive "$owner"; do sleep 1; done
	log "owner $owner is gone: stopping the cluster"
	cmd_down "$1"
}

case ${1:-} in
up) cmd_up "${2:-}" ;;
down) cmd_down "${2:-}" ;;
status) cmd_status "${2:-}" ;;
_watch) cmd_watch "$2" "$3" ;;
*) usage ;;
esac
