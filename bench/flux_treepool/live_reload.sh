#!/bin/bash
# Run inside an instance, e.g.:
#   PYTHONPATH=bench/flux_treepool:src flux start -s1 --conf=fake-resources.nnodes=4 \
#     --conf=fake-resources.hwloc-xml-path=<flux-core>/t/hwloc-data/sierra.xml \
#     --conf=fake-resources.amend-r=flux.resource.TreePool:amend bench/flux_treepool/live_reload.sh
# Live instance: 4 fake Sierra nodes (2 sockets x 22 cores, 4 GPUs), TreePool topology;
# jobs on ranks 1-3; reload sched-simple; are the jobs still running?
EXEC='--setattr=system.exec.test.run_duration=3600s'
flux module reload sched-simple pool-class=TreePool
flux dmesg | grep -o "sched-simple.*pool-class=[^ ]*" | tail -1
j0=$(flux submit $EXEC --exclusive -N1 -n1 -c1 -g1 sleep inf)
j1=$(flux submit $EXEC --exclusive -N1 -n1 -c1 -g1 sleep inf)
j2=$(flux submit $EXEC -N2 -n2 -c4 -g1 sleep inf)
for j in $j0 $j1 $j2; do flux job wait-event --timeout=10 $j alloc >/dev/null; done
for j in $j0 $j1 $j2; do echo "$j ranks $(flux job info $j R | jq -c '[.execution.R_lite[].rank]')"; done
flux module reload sched-simple pool-class=TreePool
sleep 2
for j in $j0 $j1 $j2; do echo "$j after reload: $(flux jobs -no '{state}' $j) $(flux job eventlog $j | grep -c exception) exception(s)"; done
flux dmesg | grep -i "hello\|fatal" | tail -6
j3=$(flux submit $EXEC -N1 -n1 -c1 -g1 sleep inf)
flux job wait-event --timeout=10 $j3 alloc >/dev/null && echo "new job $j3 on $(flux job info $j3 R | jq -c '[.execution.R_lite[].rank]')"
flux cancel --all
