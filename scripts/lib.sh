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

# wait_until SECONDS DESCRIPTION PIDFILE CMD...: polls CMD until it succeeds, the process in
# PIDFILE dies, or the deadline passes.
wait_until() {
  local limit=$1 what=$2 pidfile=$3; shift 3
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
