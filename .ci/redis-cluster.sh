#!/usr/bin/env bash
# A throwaway 3-master Redis Cluster on loopback, for the shared fingerprint index tests
# and bench: ports PORTBASE+1..PORTBASE+3, no replicas, no persistence.
#   .ci/redis-cluster.sh start 7100   -> prints redis://127.0.0.1:7101 once the cluster is ok
#   .ci/redis-cluster.sh stop 7100
#   .ci/redis-cluster.sh restart-node 7100 2   (stop + start one master: fault tests by hand)
set -euo pipefail
cmd="${1:?usage: $0 start|stop|restart-node PORTBASE [N]}"
base="${2:?PORTBASE}"
dir="${TMPDIR:-/tmp}/tonearm-redis-cluster-$base"
ports=("$((base + 1))" "$((base + 2))" "$((base + 3))")
server="${REDIS_SERVER:-redis-server}"
cli="${REDIS_CLI:-redis-cli}"

start_node() {
  local port="$1"
  mkdir -p "$dir/$port"
  "$server" --port "$port" --bind 127.0.0.1 --dir "$dir/$port" --daemonize yes \
    --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 15000 \
    --cluster-require-full-coverage yes --appendonly no --save "" --protected-mode yes
}

stop_node() {
  local port="$1"
  if [ -f "$dir/$port/redis.pid" ]; then
    "$cli" -p "$port" shutdown nosave >/dev/null 2>&1 || kill "$(cat "$dir/$port/redis.pid")" 2>/dev/null || true
    rm -f "$dir/$port/redis.pid"
  fi
}

wait_ping() {
  for _ in $(seq 1 100); do
    "$cli" -p "$1" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "redis on port $1 did not start" >&2
  return 1
}

wait_ok() {  # every node given agrees the cluster is ok
  for p in "$@"; do
    for i in $(seq 1 400); do
      "$cli" -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && break
      [ "$i" = 400 ] && { echo "redis on port $p: cluster state not ok" >&2; return 1; }
      sleep 0.05
    done
  done
}

case "$cmd" in
  start)
    for p in "${ports[@]}"; do stop_node "$p"; done
    rm -rf "$dir"
    for p in "${ports[@]}"; do start_node "$p"; done
    for p in "${ports[@]}"; do wait_ping "$p"; done
    "$cli" --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 \
      || { cat "$dir/create.log" >&2; exit 1; }
    wait_ok "${ports[@]}"
    echo "redis://127.0.0.1:${ports[0]}"
    ;;
  stop)
    for p in "${ports[@]}"; do stop_node "$p"; done
    rm -rf "$dir"
    ;;
  restart-node)
    p="${ports[$((${3:?N in 1..3} - 1))]}"
    stop_node "$p"
    start_node "$p"
    wait_ping "$p"
    wait_ok "${ports[@]}"
    ;;
  *)
    echo "usage: $0 start|stop|restart-node PORTBASE [N]" >&2
    exit 2
    ;;
esac
