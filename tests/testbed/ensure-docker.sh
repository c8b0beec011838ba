#!/usr/bin/env bash
# Make sure a docker engine answers on this machine.
#
# - `docker info` works: nothing to do.
# - dockerd is installed but not running (typical on a host without systemd):
#   start it in the background, logging to $DOCKERD_LOG, and wait for it.
# - docker is not installed: say so (`make docker-engine` installs docker.io).
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/prereqos-dockerd.log}
DEADLINE_S=${DOCKERD_DEADLINE_S:-60}

die() { echo "ensure-docker: $*" >&2; exit 1; }
dockerd_running() { pgrep -x dockerd >/dev/null 2>&1 || pidof dockerd >/dev/null 2>&1; }

command -v docker >/dev/null 2>&1 \
  || die "docker is not installed; on Debian 12 run: apt-get install docker.io mmdebstrap (or: make docker-engine)"

if docker info >/dev/null 2>&1; then
  exit 0
fi

command -v dockerd >/dev/null 2>&1 \
  || die "'docker info' fails and dockerd is not installed; install docker.io"

pid=
if dockerd_running; then
  echo "ensure-docker: dockerd is running but not answering yet; waiting" >&2
else
  [[ $(id -u) -eq 0 ]] || die "dockerd is not running and starting it needs root"
  echo "ensure-docker: starting dockerd (log: $DOCKERD_LOG)" >&2
  mkdir -p "$(dirname "$DOCKERD_LOG")"
  # setsid: the daemon must outlive this script and its terminal.
  setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  pid=$!
fi

deadline=$((SECONDS + DEADLINE_S))
until docker info >/dev/null 2>&1; do
  if ((SECONDS >= deadline)); then
    echo "ensure-docker: docker did not answer within ${DEADLINE_S}s. Last lines of $DOCKERD_LOG:" >&2
    tail -n 30 "$DOCKERD_LOG" >&2 2>/dev/null || true
    exit 1
  fi
  if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
    echo "ensure-docker: dockerd exited. Last lines of $DOCKERD_LOG:" >&2
    tail -n 30 "$DOCKERD_LOG" >&2 2>/dev/null || true
    exit 1
  fi
  sleep 0.5
done
echo "ensure-docker: docker is up" >&2
