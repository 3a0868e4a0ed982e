#!/bin/bash
# Run flux-core's TreePool sharness tests (t2320-t2322) with fluxpool's TreePool.
#
#   bench/flux_treepool/run_sharness.sh /path/to/flux-core-source /tmp/flux-install
#
# The tests say `pool-class=TreePool` and R says `scheduling.writer: "TreePool"`;
# flux-core resolves that name by importing a top-level module `TreePool` first, so
# this directory's TreePool.py (on PYTHONPATH) makes both load fluxpool.flux:TreePool,
# and its sitecustomize.py does the same for a Scheduler subclass that binds
# flux.resource.TreePool.TreePool. Each load appends a line to used.log here.
# Sharness resets PYTHONPATH from `$FLUX_BUILD_DIR/src/cmd/flux env`, so a fake
# build directory pointing at the installed flux keeps ours.
set -e
src=${1:?flux-core source directory}
prefix=${2:-/tmp/flux-install}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
cp -r "$src/t" "$work/t"
mkdir -p "$work/build/src/cmd"
ln -s "$prefix/bin/flux" "$work/build/src/cmd/flux"
export FLUX_BUILD_DIR="$work/build" FLUX_TEST_INSTALLED_PATH="$prefix/bin"
export PYTHONPATH="$here:$repo/src"
rm -f "$here/used.log"
cd "$work/t"
for t in t2320-sched-treepool.t t2321-sched-treepool-tva.t t2322-sched-treepool-tvb.t; do
    ./$t
done
echo "fluxpool TreePool loads: $(wc -l < "$here/used.log")"
