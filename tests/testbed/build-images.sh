#!/usr/bin/env bash
# Build the prereqos test-bed images of one Debian release, each tagged with a
# hash of its inputs; an image whose tag already exists is not rebuilt.
#
#   prereqos/debian<N>-base:<hash>  mmdebstrap --variant=minbase <suite>, imported
#   prereqos/node-debian<N>:<hash>  image/Dockerfile on top of the base
#
# Both are also tagged :latest, which is what tests/testbed/harness.py runs.
# Only the host needs the network: Debian's archive (mmdebstrap, docker build)
# and PyPI (the wheels the builder stage compiles and installs offline).
#
# usage: build-images.sh [--release 13|12] [--force]
#   --release  the Debian release (default 13, trixie; 12 is bookworm)
#   --force    rebuild everything from scratch: no tag check, no wheel cache,
#              no docker layer cache (this is the cold build time)
# environment: PREREQOS_DEBIAN_MIRROR, PREREQOS_SECURITY_MIRROR,
#              PREREQOS_PIP_INDEX_URL (default https://pypi.org/simple),
#              PYTHON (default: the repository's .venv python, else python3)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=$repo/.cache

force=0
release=13
while (($#)); do
  case $1 in
    --force) force=1 ;;
    --release) release=${2:-}; shift ;;
    *) echo "usage: $0 [--release 13|12] [--force]" >&2; exit 2 ;;
  esac
  shift
done
# Each release: its suite and the version of its python3 (Salt's venv, the wheels).
case $release in
  13) SUITE=trixie PYVER=3.13 ;;
  12) SUITE=bookworm PYVER=3.11 ;;
  *) echo "unknown Debian release '$release' (13 or 12)" >&2; exit 2 ;;
esac
wheels=$cache/wheels-cp${PYVER/./}
packages_file=$here/formula-packages-debian$release.txt
work=$cache/testbed-debian$release

BASE_REPO=prereqos/debian$release-base
NODE_REPO=prereqos/node-debian$release
BUILDER_REPO=prereqos/node-builder-debian$release
DEBIAN_MIRROR=${PREREQOS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${PREREQOS_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
PIP_INDEX_URL_=${PREREQOS_PIP_INDEX_URL:-https://pypi.org/simple}
PYTHON=${PYTHON:-}
if [[ -z $PYTHON ]]; then
  if [[ -x $repo/.venv/bin/python ]]; then PYTHON=$repo/.venv/bin/python; else PYTHON=python3; fi
fi

log() { printf '[build-images %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
# hash_of <file>...: short sha256 over the files' names and contents.
hash_of() {
  local f
  for f in "$@"; do printf '%s\n' "${f#"$repo"/}"; cat "$f"; done | sha256sum | cut -c1-16
}
# timed <label> <command>...: run a step and report how long it took.
timed() {
  local label=$1 start=$SECONDS
  shift
  "$@"
  log "$label took $((SECONDS - start))s"
}

# Remove older tags of <repository>, keeping <tag>; images still used by a
# container stay (docker refuses, and that is fine).
prune_old_tags() {
  local repository=$1 keep=$2 ref
  docker image ls --format '{{.Repository}}:{{.Tag}}' "$repository" | while read -r ref; do
    [[ $ref == "$repository:$keep" || $ref == "$repository:latest" ]] && continue
    docker rmi "$ref" >/dev/null 2>&1 && log "removed old image $ref" || true
  done
}

# --- base image -------------------------------------------------------------
# Its hash covers exactly this function's code: the mmdebstrap recipe.
build_base() {
  local tarball=$work/base.tar
  rm -f "$tarball"
  # Docs, man pages and translations are left out (and stay left out for every
  # later install, since dpkg keeps these options in /etc/dpkg/dpkg.cfg.d).
  mmdebstrap --variant=minbase --mode=root --format=tar \
    --aptopt='Acquire::Languages "none"' \
    --aptopt='Acquire::Retries "3"' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    "$SUITE" "$tarball" \
    "deb $DEBIAN_MIRROR $SUITE main" \
    "deb $DEBIAN_MIRROR $SUITE-updates main" \
    "deb $SECURITY_MIRROR $SUITE-security main"
  docker import \
    --change 'CMD ["/bin/bash"]' \
    --change "LABEL prereqos.image=base prereqos.inputs=$base_hash" \
    "$tarball" "$BASE_REPO:$base_hash" >/dev/null
  rm -f "$tarball"
}

# --- host wheelhouse ----------------------------------------------------------
# Salt's pins must be the repository's pins.
check_salt_pins() {
  "$PYTHON" - "$here/salt-requirements.txt" "$repo/requirements.txt" <<'EOF'
import re, sys
def pins(path):
    out = {}
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            out[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return out
ours, theirs = pins(sys.argv[1]), pins(sys.argv[2])
bad = [f"{n}=={v} (requirements.txt: {theirs.get(n, 'absent')})"
       for n, v in ours.items() if theirs.get(n) != v]
if bad:
    sys.exit("salt-requirements.txt disagrees with requirements.txt:\n  " + "\n  ".join(bad))
EOF
}

# Download every wheel (or, where PyPI has none, the source) the image needs,
# for the release's CPython on manylinux x86_64, into $wheels. The host's pip
# configuration (extra local indexes, find-links) is deliberately ignored.
fetch_wheels() {
  local tmp=$wheels.new m platforms=()
  # pip does not widen a manylinux_2_N platform to older glibc versions itself.
  for ((m = 36; m >= 5; m--)); do platforms+=(--platform "manylinux_2_${m}_x86_64"); done
  platforms+=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)
  rm -rf "$tmp"
  mkdir -p "$tmp"
  env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL -u PIP_NO_INDEX \
    PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$PYTHON" -m pip download -q --no-deps --index-url "$PIP_INDEX_URL_" \
    "${platforms[@]}" --python-version "$PYVER" --implementation cp --abi "cp${PYVER/./}" \
    -d "$tmp" \
    -r "$here/salt-requirements.txt" \
    -r "$here/wheelhouse-requirements.txt" \
    -r "$here/build-requirements.txt"
  rm -rf "$wheels"
  mv "$tmp" "$wheels"
  echo "$wheels_hash" >"$wheels/.inputs"
}

# --- node image ---------------------------------------------------------------
build_node() {
  local ctx=$work/context
  rm -rf "$ctx"
  mkdir -p "$ctx"
  cp "$here"/image/* "$here"/*requirements.txt "$ctx/"
  cp "$packages_file" "$ctx/formula-packages.txt"
  cp -al "$wheels" "$ctx/wheels" 2>/dev/null || cp -a "$wheels" "$ctx/wheels"
  # The builder stage is tagged too: it is the layer cache of the next build,
  # and a tag lets older ones be pruned.
  docker build $( ((force)) && echo --no-cache) \
    --build-arg "BASE_IMAGE=$BASE_REPO:$base_hash" \
    --target builder -t "$BUILDER_REPO:$node_hash" "$ctx"
  docker build \
    --build-arg "BASE_IMAGE=$BASE_REPO:$base_hash" \
    --label prereqos.image=node \
    --label "prereqos.inputs=$node_hash" \
    -t "$NODE_REPO:$node_hash" "$ctx"
  rm -rf "$ctx"
}

# Offline checks of a fresh node image, in a container without any network:
# the formula's packages resolve from the local repository, Salt runs, and
# uwsgi installs from the local wheelhouse into a venv and runs (after
# installing python3-venv and libpython3.X from the local repository; the
# formula gets libpython3.X with python3-dev).
verify_node() {
  local packages
  packages=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$packages_file" | tr '\n' ' ')
  docker run --rm --network none "$NODE_REPO:$node_hash" bash -euo pipefail -c "
    echo \"apt sources: \$(cat /etc/apt/sources.list.d/*)\"
    apt-get install --simulate -q=2 $packages >/dev/null
    echo 'apt: every formula package resolves offline'
    salt-call --local --version
    apt-get install -y -q=2 python3-venv libpython$PYVER >/dev/null
    python3 -m venv /tmp/v
    /tmp/v/bin/pip install -q --no-index --find-links /var/cache/prereqos/wheels uwsgi
    version=\$(/tmp/v/bin/uwsgi --version)
    echo \"pip: uwsgi \$version installs offline\"
  "
}

main() {
  command -v docker >/dev/null || die "docker is not installed (make docker-engine)"
  docker info >/dev/null 2>&1 || die "docker is not running (tests/testbed/ensure-docker.sh)"
  mkdir -p "$work"

  base_hash=$({ echo "$SUITE"; declare -f build_base; } | sha256sum | cut -c1-16)
  wheels_hash=$({ echo "$PYVER"; declare -f fetch_wheels; hash_of "$here"/*requirements.txt; } | sha256sum | cut -c1-16)
  node_hash=$({
    echo "$base_hash"
    hash_of "$here/build-images.sh" "$here"/image/* "$packages_file" "$here"/*requirements.txt
  } | sha256sum | cut -c1-16)
  local total=$SECONDS

  if ((force == 0)) && image_exists "$BASE_REPO:$base_hash"; then
    log "base image $BASE_REPO:$base_hash is up to date"
  else
    command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed (apt-get install mmdebstrap)"
    log "building $BASE_REPO:$base_hash"
    timed "base image (mmdebstrap + docker import)" build_base
  fi
  docker tag "$BASE_REPO:$base_hash" "$BASE_REPO:latest"

  if ((force == 0)) && image_exists "$NODE_REPO:$node_hash"; then
    log "node image $NODE_REPO:$node_hash is up to date"
  else
    check_salt_pins || die "fix tests/testbed/salt-requirements.txt"
    if ((force == 0)) && [[ $(cat "$wheels/.inputs" 2>/dev/null) == "$wheels_hash" ]]; then
      log "wheelhouse $wheels is up to date"
    else
      log "downloading wheels into $wheels"
      timed "wheel download" fetch_wheels
    fi
    log "building $NODE_REPO:$node_hash"
    timed "node image (docker build)" build_node
    timed "node image offline checks" verify_node
  fi
  docker tag "$NODE_REPO:$node_hash" "$NODE_REPO:latest"
  prune_old_tags "$BASE_REPO" "$base_hash"
  prune_old_tags "$NODE_REPO" "$node_hash"
  prune_old_tags "$BUILDER_REPO" "$node_hash"
  log "ready: $NODE_REPO:$node_hash ($(docker image inspect -f '{{.Size}}' "$NODE_REPO:$node_hash" \
    | awk '{ printf "%.0f MB", $1 / 1e6 }')) in $((SECONDS - total))s"
}

main
