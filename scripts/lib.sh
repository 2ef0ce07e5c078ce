# Shared by the scripts that run local servers. Sourced, not executed.
# Ports are overridable: LANYARD_LOCALSTACK_PORT (default 4566), LANYARD_DYNAMODB_PORT (8000).

LANYARD_LOCALSTACK_PORT=${LANYARD_LOCALSTACK_PORT:-4566}
LANYARD_DYNAMODB_PORT=${LANYARD_DYNAMODB_PORT:-8000}
LANYARD_STATE=${LANYARD_STATE:-$PWD/.state}

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# port_in_use PORT: true when something accepts connections on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_alive FILE: true when FILE names a running process.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_until SECONDS PIDFILE CMD...: polls CMD until it succeeds, the process in
# PIDFILE dies, or the deadline passes.
wait_until() {
  local limit=$1 pidfile=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    pid_alive "$pidfile" || return 2
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

# stop_pidfile NAME FILE: TERM the process group, KILL it after 20 s, remove the file.
stop_pidfile() {
  local name=$1 file=$2 pid
  if ! pid_alive "$file"; then rm -f "$file"; echo "$name: not running"; return 0; fi
  pid=$(cat "$file")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 20))
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
  echo "$name: stopped (pid $pid)"
}

# A local server script sets NAME, TITLE, STATE, PIDFILE, LOG, URL, PORT, PORT_VAR and
# START_LIMIT, defines install, healthy and launch (starts the server in the background as a
# simple command, so that $! is its own pid, and writes $! to $PIDFILE), then calls
# server_main "$@".

server_start() {
  install
  mkdir -p "$STATE"
  if pid_alive "$PIDFILE"; then
    local running_port
    running_port=$(cat "$STATE/port" 2>/dev/null || echo "?")
    [ "$running_port" = "$PORT" ] || die "already running on port $running_port (pid $(cat "$PIDFILE")); stop it first"
    healthy && { echo "$NAME: already running on $URL (pid $(cat "$PIDFILE"))"; return 0; }
  fi
  port_in_use "$PORT" && die "port $PORT is already taken (set $PORT_VAR to another port)"
  launch
  echo "$PORT" > "$STATE/port"
  local rc=0
  wait_until "$START_LIMIT" "$PIDFILE" healthy || rc=$?
  case $rc in
    0) echo "$NAME: running on $URL (pid $(cat "$PIDFILE"), log $LOG)" ;;
    2) rm -f "$PIDFILE"; die "$TITLE exited during startup; see $LOG" ;;
    *) stop_pidfile "$NAME" "$PIDFILE" >/dev/null; die "$TITLE was not healthy within $START_LIMIT s; see $LOG" ;;
  esac
}

server_status() {
  if pid_alive "$PIDFILE"; then
    local h=unhealthy; healthy && h=healthy
    printf '%-12s running   %s   %s   pid %s   log %s\n' "$NAME" "$URL" "$h" "$(cat "$PIDFILE")" "$LOG"
  else
    printf '%-12s stopped   %s\n' "$NAME" "$URL"
    return 1
  fi
}

server_main() {
  case "${1:-}" in
    install) install ;;
    start) server_start ;;
    stop) stop_pidfile "$NAME" "$PIDFILE" ;;
    status) server_status ;;
    *) die "usage: $0 install|start|stop|status" ;;
  esac
}

# with_local_servers CMD...: starts LocalStack and DynamoDB Local when they are not running,
# runs CMD, and stops the servers it started (whatever CMD's outcome, Ctrl-C included).
# Servers already running are reused and left running.
with_local_servers() {
  # Global, not local: the EXIT trap runs after this function has returned.
  LANYARD_STARTED_SERVERS=()
  local rc=0
  scripts/dynamodb.sh status >/dev/null 2>&1 || LANYARD_STARTED_SERVERS+=(dynamodb)
  scripts/localstack.sh status >/dev/null 2>&1 || LANYARD_STARTED_SERVERS+=(localstack)
  trap _stop_started_servers EXIT
  trap 'exit 130' INT TERM
  scripts/local.sh up
  "$@" || rc=$?
  return $rc
}

_stop_started_servers() {
  local s
  for s in "${LANYARD_STARTED_SERVERS[@]}"; do scripts/"$s".sh stop; done
}
