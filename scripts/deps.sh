#!/usr/bin/env bash
# Installs and starts what the test suite needs, when it is missing:
# Debian's Chromium (browser tests) with a CJK font (the demo's poem),
# Redis and NATS with JetStream (store tests), all on loopback; jq for the
# benchmark scenarios.
# It is safe to run again: present things are left alone.
set -euo pipefail

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then sudo "$@"; else
      echo "deps: '$*' needs root; run it as root or install sudo" >&2; exit 1
    fi
  else "$@"; fi
}

missing=()
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing+=(chromium)
dpkg-query -W -f='${Status}' fonts-wqy-zenhei 2>/dev/null | grep -q 'ok installed' || missing+=(fonts-wqy-zenhei)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v nats-server >/dev/null || missing+=(nats-server)
command -v jq >/dev/null || missing+=(jq)        # bench/scenarios.sh
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]} from Debian's packages"
  need_root apt-get update -qq
  need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # name port
  for _ in $(seq 1 50); do port_open "$2" && return 0; sleep 0.1; done
  echo "deps: $1 did not start listening on 127.0.0.1:$2" >&2; exit 1
}

if ! port_open 6379; then
  echo "deps: starting Redis on 127.0.0.1:6379"
  mkdir -p /tmp/ssehub-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/ssehub-redis --logfile /tmp/ssehub-redis/redis.log
  wait_port Redis 6379
fi
if ! port_open 4222; then
  echo "deps: starting NATS with JetStream on 127.0.0.1:4222"
  mkdir -p /tmp/ssehub-nats
  nohup nats-server -a 127.0.0.1 -p 4222 -js -sd /tmp/ssehub-nats >/tmp/ssehub-nats/nats.log 2>&1 &
  wait_port NATS 4222
fi
# The official Durable Streams conformance suite, pinned by its lock file
# (cmd/ssehub's TestDurableStreamsConformance runs it with Node 20).
conf="$(dirname "$0")/../conformance/durable-streams"
if [ ! -x "$conf/node_modules/.bin/vitest" ]; then
  command -v npm >/dev/null || { echo "deps: npm is missing: the Durable Streams conformance suite needs Node 20 and npm" >&2; exit 1; }
  echo "deps: installing the Durable Streams conformance suite (npm ci in conformance/durable-streams)"
  (cd "$conf" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "deps: Chromium, Redis (127.0.0.1:6379) and NATS (127.0.0.1:4222) are ready"
