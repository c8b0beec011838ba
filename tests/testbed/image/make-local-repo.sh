#!/usr/bin/env bash
# Runs inside `docker build`. Turns the node image's apt into an offline one:
#
# 1. With Debian's archive, ask apt what installing the formula's packages
#    (all together, and each alone, recommends included) would install here.
# 2. Download exactly those .deb files (nothing is installed) into a flat
#    repository and index it.
# 3. Make that repository the only apt source, `apt-get update` once.
# 4. Ask apt again, offline: every install must resolve to the same packages
#    as with the archive, or the build fails.
set -euo pipefail

packages_file=$1
repo=/var/cache/prereqos/debs
work=$(mktemp -d)
mapfile -t packages < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$packages_file" | tr -d ' \t')
((${#packages[@]} > 0)) || { echo "no packages in $packages_file" >&2; exit 1; }

# simulate <out-file> <package>...: "name version" of every package apt would
# install, sorted. Fails when apt cannot resolve the request.
simulate() {
  local out=$1
  shift
  apt-get install --simulate -q=2 "$@" >"$work/sim.txt" \
    || { echo "apt cannot install: $*" >&2; cat "$work/sim.txt" >&2; return 1; }
  awk '$1 == "Inst" { gsub(/[()]/, "", $3); print $2, $3 }' "$work/sim.txt" | sort -u >"$out"
}

# plans <dir>: one plan for all packages together and one for each alone; apt
# may pick other alternatives of an "a | b" dependency when asked for one.
plans() {
  mkdir -p "$1"
  simulate "$1/ALL" "${packages[@]}"
  for p in "${packages[@]}"; do simulate "$1/$p" "$p"; done
}

apt-get update -q
plans "$work/archive"

mkdir -p "$repo"
cd "$repo"
cat "$work"/archive/* | sort -u | awk '{ print $1 "=" $2 }' >"$work/wanted"
echo "downloading $(wc -l <"$work/wanted") packages into $repo"
# apt-get download drops privileges to _apt, which needs to write here.
chown _apt "$repo"
xargs -a "$work/wanted" apt-get download -q=2
chown root "$repo"
apt-ftparchive packages . >Packages
apt-ftparchive release . >Release

rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*
echo "deb [trusted=yes] file:$repo ./" >/etc/apt/sources.list.d/prereqos-local.list
rm -rf /var/lib/apt/lists/*
apt-get update -q
plans "$work/local"

if ! diff -r "$work/archive" "$work/local"; then
  echo "the offline repository does not resolve like Debian's archive (diff above)" >&2
  exit 1
fi
echo "offline repository: $(ls "$repo"/*.deb | wc -l) packages, $(du -sh "$repo" | cut -f1);" \
  "${#packages[@]} formula packages resolve offline"
rm -rf "$work" /var/cache/apt/*.bin
