#!/usr/bin/env bash
# A throwaway three-primary Redis Cluster on 127.0.0.1:7000-7002, for the cluster half of the
# test suite (SELFRAG_TEST_REDIS_CLUSTER_URL). Nothing is persisted.
#
#   scripts/redis-cluster.sh start   # prints the URL to export (diagnostics go to stderr)
#   scripts/redis-cluster.sh stop
#
# `start` is idempotent: a healthy running cluster is reused; a node that is down is started
# from an empty directory (a stale nodes.conf would make it rejoin an old cluster half-formed);
# running nodes that never reach a healthy state are reset and the cluster is created afresh.
set -euo pipefail
PORTS=(7000 7001 7002)
DIR="${REDIS_CLUSTER_DIR:-/tmp/selfrag-redis-cluster}"

# Captured rather than piped into `grep -q`: with pipefail, grep leaving early can fail the pipe.
cluster_ok() {
  local info
  info="$(redis-cli -p "$1" cluster info 2>/dev/null || true)"
  [[ "$info" == *"cluster_state:ok"* ]]
}

all_ok() {
  for port in "${PORTS[@]}"; do cluster_ok "$port" || return 1; done
}

wait_all_ok() { # $1 = tenths of a second
  for _ in $(seq 1 "$1"); do all_ok && return 0; sleep 0.1; done
  return 1
}

fail() {
  echo "redis-cluster.sh: $*" >&2
  for port in "${PORTS[@]}"; do
    echo "--- $DIR/$port/redis.log (tail)" >&2
    tail -n 20 "$DIR/$port/redis.log" >&2 2>/dev/null || true
  done
  exit 1
}

case "${1:-start}" in
start)
  mkdir -p "$DIR"
  started_any=false
  for port in "${PORTS[@]}"; do
    if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
      rm -rf "${DIR:?}/$port"
      mkdir -p "$DIR/$port"
      redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --cluster-enabled yes \
        --cluster-config-file "$DIR/$port/nodes.conf" --cluster-node-timeout 5000 \
        --save "" --appendonly no --dir "$DIR/$port" --logfile "$DIR/$port/redis.log" >&2 ||
        fail "redis-server on port $port did not start"
      started_any=true
    fi
  done
  for port in "${PORTS[@]}"; do
    for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$port" ping >/dev/null 2>&1 || fail "node $port does not answer PING"
  done
  # Nodes that were already running may still be converging: give them a moment first.
  if ! { [[ "$started_any" == false ]] && wait_all_ok 100; } && ! all_ok; then
    for port in "${PORTS[@]}"; do
      redis-cli -p "$port" flushall >/dev/null 2>&1 || true
      redis-cli -p "$port" cluster reset hard >/dev/null 2>&1 || true
    done
    redis-cli --cluster create $(printf "127.0.0.1:%s " "${PORTS[@]}") --cluster-replicas 0 \
      --cluster-yes >&2 || fail "redis-cli --cluster create failed"
  fi
  wait_all_ok 100 || fail "the cluster did not reach cluster_state:ok"
  nodes=$(printf "127.0.0.1:%s," "${PORTS[@]}")
  echo "redis+cluster://${nodes%,}"
  ;;
stop)
  for port in "${PORTS[@]}"; do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; done
  rm -rf "$DIR"
  ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac
