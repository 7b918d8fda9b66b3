# shellcheck shell=bash
# Shared helpers for the local infrastructure scripts (scripts/<name>.sh).
# Source it; do not run it.
#
#   CACHE  downloads and builds, outside the clone so fresh clones reuse them
#          (HIGHGOPRESS_CACHE, default ~/.cache/highgopress)
#   RUN    runtime state: data dirs, logs, pid files, generated configs
#          (HIGHGOPRESS_RUN, default <repo>/.run, gitignored)
#
# Every server started here gets HIGHGOPRESS_SERVICE=<name> and
# HIGHGOPRESS_RUN_DIR=<RUN> in its environment, so a server left running by
# another checkout (other RUN dir) can be recognised on its port.

set -euo pipefail

SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$SCRIPTS_DIR/.." && pwd -P)
# shellcheck disable=SC2034 # used by the scripts that source this file
INFRA_DIR=$SCRIPTS_DIR/infra
CACHE=${HIGHGOPRESS_CACHE:-$HOME/.cache/highgopress}
RUN=${HIGHGOPRESS_RUN:-$REPO_ROOT/.run}
mkdir -p "$CACHE" "$RUN"
RUN=$(cd "$RUN" && pwd -P)
export CACHE RUN

# How long `start` waits for a server to answer, and `stop` waits after SIGTERM.
HIGHGOPRESS_START_TIMEOUT=${HIGHGOPRESS_START_TIMEOUT:-120}
HIGHGOPRESS_STOP_TIMEOUT=${HIGHGOPRESS_STOP_TIMEOUT:-60}

_HGP_T0=$(date +%s)

# info NAME MESSAGE...  -> "==> NAME: MESSAGE"
info() {
  local name=$1
  shift
  printf '==> %s: %s\n' "$name" "$*"
}

warn() {
  local name=$1
  shift
  printf '==> %s: WARNING: %s\n' "$name" "$*" >&2
}

die() {
  local name=$1
  shift
  printf '==> %s: ERROR: %s\n' "$name" "$*" >&2
  exit 1
}

elapsed() { echo "$(($(date +%s) - _HGP_T0))s"; }

svc_dir() { echo "$RUN/$1"; }
pid_file() { echo "$RUN/$1/$1.pid"; }
log_file() { echo "$RUN/$1/$1.log"; }

# ---------------------------------------------------------------- apt

_as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "need root (or sudo) to run: $*" >&2
    return 1
  fi
}

# ensure_apt BINARY PACKAGE...
# Installs the Debian packages unless BINARY is already on PATH (or is an
# existing absolute path). `apt-get update` runs at most once per machine
# (marker under $CACHE), again only if an install fails on stale lists.
# Package maintainer scripts are kept from starting services (policy-rc.d):
# we run our own processes.
ensure_apt() {
  local bin=$1
  shift
  if [[ $bin == /* && -x $bin ]] || command -v "$bin" >/dev/null 2>&1; then
    return 0
  fi
  mkdir -p "$CACHE"
  local marker=$CACHE/apt-updated lock=$CACHE/apt.lock
  (
    flock -w 900 9 || { echo "timed out waiting for $lock" >&2; exit 1; }
    if [[ $bin == /* && -x $bin ]] || command -v "$bin" >/dev/null 2>&1; then
      exit 0
    fi
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [[ ! -e $policy ]]; then
      _as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
      created_policy=1
    fi
    # shellcheck disable=SC2064
    trap "[[ $created_policy == 1 ]] && _as_root rm -f $policy" EXIT
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
    if [[ ! -e $marker ]]; then
      echo "==> apt: apt-get update (once per machine; marker $marker)"
      _as_root "${apt[@]}" update -qq
      date -u +%FT%TZ >"$marker"
    fi
    echo "==> apt: installing $*"
    if ! _as_root "${apt[@]}" install -y -qq --no-install-recommends "$@" >/dev/null; then
      echo "==> apt: install failed; refreshing package lists and retrying"
      _as_root "${apt[@]}" update -qq
      date -u +%FT%TZ >"$marker"
      _as_root "${apt[@]}" install -y -qq --no-install-recommends "$@" >/dev/null
    fi
  ) 9>"$lock"
}

# ---------------------------------------------------------------- processes

# pid_alive PID
pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

# running_pid NAME -> prints the pid from $RUN/NAME/NAME.pid if that process
# is alive and was started by these scripts for NAME; else returns 1 (and
# removes a stale pid file).
running_pid() {
  local name=$1 pf pid
  pf=$(pid_file "$name")
  [[ -f $pf ]] || return 1
  pid=$(<"$pf")
  if pid_alive "$pid" && [[ $(managed_service "$pid") == "$name" ]]; then
    echo "$pid"
    return 0
  fi
  rm -f "$pf"
  return 1
}

# _proc_env PID VAR -> value of VAR in the environment of PID (needs same
# user or root).
_proc_env() {
  local pid=$1 var=$2
  [[ -r /proc/$pid/environ ]] || return 0
  tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | sed -n "s/^$var=//p" | head -n1
}

# managed_service PID -> name of the service (redis, kafka, ...) if PID was
# started by these scripts; managed_run_dir PID -> the RUN dir it belongs to.
# The environment marker is used when readable; redis-server overwrites its
# environ area with its process title, so it is recognised by its working
# directory instead (redis chdirs to its data dir, <RUN>/<name>/data).
managed_service() {
  local pid=$1 svc
  svc=$(_proc_env "$pid" HIGHGOPRESS_SERVICE)
  if [[ -z $svc ]]; then
    svc=$(_redis_in_run "$pid")
    svc=${svc##*/}
  fi
  echo "$svc"
}
managed_run_dir() {
  local pid=$1 dir
  dir=$(_proc_env "$pid" HIGHGOPRESS_RUN_DIR)
  if [[ -z $dir ]]; then
    dir=$(_redis_in_run "$pid")
    dir=${dir%/*}
  fi
  echo "$dir"
}
# _redis_in_run PID -> <RUN>/<name> of a redis-server running in <RUN>/<name>/data, else nothing.
_redis_in_run() {
  local pid=$1 exe cwd
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
  cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null || true)
  if [[ ${exe##*/} == redis-* && $cwd == */data ]]; then echo "${cwd%/data}"; fi
}

# port_pid PORT [tcp|udp] -> pid of the process listening on 127.0.0.1/any:PORT
port_pid() {
  local port=$1 proto=${2:-tcp} flag=-ltnpH
  [[ $proto == udp ]] && flag=-lunpH
  { ss "$flag" "sport = :$port" 2>/dev/null || true; } | { grep -o 'pid=[0-9]*' || true; } | head -n1 | cut -d= -f2
}

# port_listening PORT [tcp|udp]
port_listening() {
  local port=$1 proto=${2:-tcp} flag=-ltnH
  [[ $proto == udp ]] && flag=-lunH
  [[ -n $(ss "$flag" "sport = :$port" 2>/dev/null) ]]
}

# claim_port NAME PORT...
# Before starting NAME: each PORT must be free. A server of the same kind
# left running by another checkout (another RUN dir) is stopped cleanly (its
# data stays in its own RUN dir); anything else on the port is an error.
claim_port() {
  local name=$1 port pid svc other
  shift
  for port in "$@"; do
    pid=$(port_pid "$port")
    if [[ -z $pid ]]; then
      # Held by a process this shell cannot see (another PID namespace, the kernel).
      port_listening "$port" && die "$name" "port $port is already in use by a process not visible here; free it or choose another port"
      continue
    fi
    svc=$(managed_service "$pid")
    other=$(managed_run_dir "$pid")
    if [[ $svc == "$name" && $other != "$RUN" ]]; then
      info "$name" "port $port is held by the $name of another checkout (pid $pid, RUN=$other); stopping it so this checkout uses its own"
      stop_pid "$name" "$pid"
      rm -f "$other/$name/$name.pid"
    else
      die "$name" "port $port is already in use by pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-120)); stop it or choose another port"
    fi
  done
}

# lock_service NAME -> serialises start/stop of NAME between concurrent
# callers (held on fd 8 until the script exits; start_bg closes it in the
# server so the server does not keep the lock).
lock_service() {
  local name=$1
  mkdir -p "$RUN/$name"
  exec 8>"$RUN/$name/.lock"
  flock -w 600 8 || die "$name" "timed out waiting for $RUN/$name/.lock"
}

# require_port_owner NAME PID PORT -> fails when the running server PID does
# not listen on PORT (it was started with other port settings).
require_port_owner() {
  local name=$1 pid=$2 port=$3 owner
  owner=$(port_pid "$port")
  if [[ $owner != "$pid" ]]; then
    die "$name" "already running (pid $pid) but not on port $port (port settings changed?); run scripts/$name.sh restart"
  fi
}

# start_bg NAME COMMAND... -> starts COMMAND in its own session, stdout and
# stderr appended to $RUN/NAME/NAME.log, pid written to $RUN/NAME/NAME.pid.
start_bg() {
  local name=$1 log pf
  shift
  log=$(log_file "$name")
  pf=$(pid_file "$name")
  mkdir -p "$(dirname "$log")"
  printf '\n===== %s: starting %s =====\n' "$(date -u +%FT%TZ)" "$name" >>"$log"
  HIGHGOPRESS_SERVICE=$name HIGHGOPRESS_RUN_DIR=$RUN \
    setsid nohup "$@" </dev/null >>"$log" 2>&1 8>&- &
  echo $! >"$pf"
}

# wait_ready NAME TIMEOUT_SECONDS DESCRIPTION COMMAND...
# Polls COMMAND until it succeeds. Fails early if the process died.
wait_ready() {
  local name=$1 timeout=$2 what=$3 pid deadline
  shift 3
  deadline=$(($(date +%s) + timeout))
  while true; do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    if ! pid=$(running_pid "$name"); then
      echo "----- last lines of $(log_file "$name") -----" >&2
      tail -n 30 "$(log_file "$name")" >&2 || true
      die "$name" "process exited before $what; see $(log_file "$name")"
    fi
    if (($(date +%s) >= deadline)); then
      echo "----- last lines of $(log_file "$name") -----" >&2
      tail -n 30 "$(log_file "$name")" >&2 || true
      die "$name" "timed out after ${timeout}s waiting for $what (pid $pid still running); see $(log_file "$name")"
    fi
    sleep 0.5
  done
}

# stop_pid NAME PID [TIMEOUT] -> SIGTERM, wait, then SIGKILL.
stop_pid() {
  local name=$1 pid=$2 timeout=${3:-$HIGHGOPRESS_STOP_TIMEOUT} i
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 5; i++)); do
    pid_alive "$pid" || return 0
    # reap a zombie if it is our own child (not normally the case)
    if [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]]; then
      return 0
    fi
    sleep 0.2
  done
  warn "$name" "pid $pid did not exit ${timeout}s after SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    pid_alive "$pid" || return 0
    sleep 0.1
  done
}

# stop_service NAME [TIMEOUT] -> stops the server started from this RUN dir.
stop_service() {
  local name=$1 timeout=${2:-$HIGHGOPRESS_STOP_TIMEOUT} pid
  if ! pid=$(running_pid "$name"); then
    info "$name" "not running"
    return 0
  fi
  info "$name" "stopping (pid $pid)"
  stop_pid "$name" "$pid" "$timeout"
  rm -f "$(pid_file "$name")"
  info "$name" "stopped"
}

# http_ok URL -> succeeds on a 2xx answer.
http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }

# show_logs NAME [-f] -> last lines (LINES, default 100) of the log.
show_logs() {
  local name=$1 log
  log=$(log_file "$name")
  [[ -f $log ]] || die "$name" "no log file yet ($log)"
  if [[ ${2:-} == -f ]]; then
    tail -n "${LINES:-100}" -F "$log"
  else
    tail -n "${LINES:-100}" "$log"
  fi
}

# report_status NAME CHECK UP_TEXT STUCK_TEXT -> "running (pid N) UP_TEXT" when
# the process runs and CHECK succeeds, else says what is wrong and fails.
report_status() {
  local name=$1 check=$2 up=$3 stuck=$4 pid
  if ! pid=$(running_pid "$name"); then
    info "$name" "not running"
    return 1
  fi
  if "$check"; then
    info "$name" "running (pid $pid) $up"
    return 0
  fi
  info "$name" "process $pid is up but $stuck"
  return 1
}

# service_command NAME start|stop|restart|status|logs [ARG] -> the commands every
# server script shares, run with the script's own start and status functions.
service_command() {
  local name=$1 cmd=${2:-}
  case $cmd in
    start | stop | restart) lock_service "$name" ;;
  esac
  case $cmd in
    start) start ;;
    stop) stop_service "$name" ;;
    restart) stop_service "$name" && start ;;
    status) status ;;
    logs) show_logs "$name" "${3:-}" ;;
  esac
}

usage_exit() {
  local name=$1 extra=${2:-}
  echo "usage: scripts/$name.sh start|stop|restart|status|logs [-f]$extra" >&2
  exit 2
}
