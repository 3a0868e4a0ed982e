"""A small, deliberately naive pure-Python model of a resource pool (SPEC §5–§10).

It is the reference the state-machine test (test_state_machine.py) drives side by side
with ``fluxpool.ResourcePool``: plain Python sets per rank, a dict of jobs, a counter.
Nothing here is fast or clever; every method reads like the SPEC paragraph it
implements, so it is easy to check by eye.

Requests are ``fluxpool.ResourceRequest`` objects (only their attributes are read).
R arguments are given to the model already decoded, as ``{rank: (cores, gpus)}``.
"""

import copy as _copy
import json
import re
import time


class Insufficient(Exception):
    """The model's "not now" (the pool must raise InsufficientResources)."""


class Infeasible(Exception):
    """The model's "never" (the pool must raise InfeasibleRequest)."""


# ---------------------------------------------------------------------- formats (§2)


def encode_idset(ids):
    """Canonical idset text (§2.1): ``{0,1,2,5}`` -> ``"0-2,5"``."""
    runs = []
    for i in sorted(ids):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def display_idset(ids):
    """Bracketed display form (§2.1): brackets only for two or more ids."""
    text = encode_idset(ids)
    return f"[{text}]" if len(ids) > 1 else text


def decode_idset(text):
    """Decode idset text of the simple forms this test writes (``"1-3,7"``, ``"5"``)."""
    ids = set()
    for part in str(text).split(","):
        if part == "":
            continue
        lo, _, hi = part.partition("-")
        ids.update(range(int(lo), int(hi or lo) + 1))
    return ids


def compress_hostnames(names):
    """Compressed hostlist (§2.2) of names of the form ``<prefix><unpadded number>``
    or without trailing digits: runs of consecutive numbers under the same prefix,
    and consecutive runs with the same prefix share one bracket group."""
    groups = []  # [prefix, [[lo, hi], ...]] or [name, None]
    for name in names:
        m = re.fullmatch(r"(.*?)(\d+)", name)
        if m is None:
            groups.append([name, None])
            continue
        prefix, num = m.group(1), int(m.group(2))
        if groups and groups[-1][1] is not None and groups[-1][0] == prefix:
            runs = groups[-1][1]
            if runs[-1][1] + 1 == num:
                runs[-1][1] = num
            else:
                runs.append([num, num])
        else:
            groups.append([prefix, [[num, num]]])
    out = []
    for prefix, runs in groups:
        if runs is None:
            out.append(prefix)
        elif len(runs) == 1 and runs[0][0] == runs[0][1]:
            out.append(f"{prefix}{runs[0][0]}")
        else:
            text = ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
            out.append(f"{prefix}[{text}]")
    return ",".join(out)


def _groups(ranks_map):
    """Ranks with identical core and GPU sets, grouped, ordered by smallest rank."""
    by_shape = {}
    for rank in sorted(ranks_map):
        cores, gpus = ranks_map[rank]
        by_shape.setdefault((frozenset(cores), frozenset(gpus)), []).append(rank)
    return sorted(((ranks, cores, gpus) for (cores, gpus), ranks in by_shape.items()),
                  key=lambda g: g[0][0])


def r_lite(ranks_map):
    """The ``R_lite`` list (§2.4) of ``{rank: (cores, gpus)}``."""
    entries = []
    for ranks, cores, gpus in _groups(ranks_map):
        children = {"core": encode_idset(cores)}
        if gpus:
            children["gpu"] = encode_idset(gpus)
        entries.append({"rank": encode_idset(ranks), "children": children})
    return entries


def dumps(ranks_map):
    """The one-line summary (§2.5) of ``{rank: (cores, gpus)}``."""
    parts = []
    for ranks, cores, gpus in _groups(ranks_map):
        text = f"rank{display_idset(ranks)}/core{display_idset(cores)}"
        if gpus:
            text += f",gpu{display_idset(gpus)}"
        parts.append(text)
    return " ".join(parts)


def r_dict(ranks_map, starttime, expiration, nslots=0, names=None, properties=None,
           scheduling=None):
    """An R v1 dict in the key order of §2.4. ``names``: rank -> host name, or None for
    no nodelist; ``properties``: the property table, or None/{} for none."""
    execution = {"R_lite": r_lite(ranks_map), "starttime": starttime,
                 "expiration": expiration}
    if nslots > 0:
        execution["nslots"] = nslots
    if names is not None:
        execution["nodelist"] = [compress_hostnames([names[r] for r in sorted(ranks_map)])]
    if properties:
        execution["properties"] = {p: encode_idset(properties[p])
                                   for p in sorted(properties) if properties[p]}
    result = {"version": 1, "execution": execution}
    if scheduling:
        result["scheduling"] = scheduling
    return result


# ---------------------------------------------------------------------- the pool


class Node:
    """One rank: all cores and GPUs, the allocated ones, and whether it is up."""

    def __init__(self, cores, gpus):
        self.cores = set(cores)
        self.gpus = set(gpus)
        self.alloc_cores = set()
        self.alloc_gpus = set()
        self.up = True

    def free_cores(self):
        return sorted(self.cores - self.alloc_cores)

    def free_gpus(self):
        return sorted(self.gpus - self.alloc_gpus)


class Job:
    """A job record: its end time and what it holds, ``{rank: (cores, gpus)}``."""

    def __init__(self, end_time, held, approximate=False, earliest=None):
        self.end_time = end_time
        self.held = {r: (set(c), set(g)) for r, (c, g) in held.items()}
        # True while end_time came from time.time() + duration: the pool's own
        # end time then lies in [earliest, end_time] (clock read before the
        # pool's alloc, and after it, by the model).
        self.approximate = approximate
        self.earliest = end_time if earliest is None else earliest


class ModelPool:
    """The model pool. ``ranks``: ``{rank: (cores, gpus)}``; ``nodelist``: host names
    for the ranks in ascending order (may be short, §2.3), or None for no nodelist."""

    def __init__(self, ranks, nodelist=None, properties=None, starttime=0.0,
                 expiration=0.0, nslots=0, scheduling=None, policy="first-fit"):
        self.nodes = {r: Node(c, g) for r, (c, g) in sorted(ranks.items())}
        self.has_nodelist = bool(nodelist)
        names = list(nodelist or [])
        self.names = {r: (names[i] if i < len(names) else f"rank{r}")
                      for i, r in enumerate(sorted(ranks))}
        self.properties = {p: set(s) for p, s in (properties or {}).items()}
        self.starttime = float(starttime)
        self.expiration = float(expiration)
        self.nslots = nslots or 0
        self.scheduling = scheduling
        self.policy = policy
        self.jobs = {}  # jobid -> Job, in first-recorded order (dict order)
        self.generation = 0
        # False once a flux quirk (M11-M14) may have let two records share a core.
        self.clean = True

    def copy(self):
        """§9: everything, except the ``nslots`` of the source R (M16)."""
        new = _copy.deepcopy(self)
        new.nslots = 0
        return new

    # -- requests -----------------------------------------------------------

    def _check_discrete(self, req):
        for what, count in (("node", req.node_count), ("slot", req.slot_count)):
            if count is not None and count._values is not None:
                raise Infeasible(f"{what} count specifies discrete valid values")

    def _matches(self, c, rank):
        """RFC 31 (§3.3) for one rank; the first known operator decides."""
        if "properties" in c:
            for p in c["properties"]:
                if p.startswith("^"):
                    if rank in self.properties.get(p[1:], ()):
                        return False
                elif rank not in self.properties.get(p, ()):
                    return False
            return True
        if "hostlist" in c:
            return self.names[rank] in ",".join(c["hostlist"]).split(",")
        if "ranks" in c:
            return any(rank in decode_idset(item) for item in c["ranks"])
        if "and" in c:
            return all(self._matches(sub, rank) for sub in c["and"])
        if "or" in c:
            return any(self._matches(sub, rank) for sub in c["or"])
        if "not" in c:
            return not self._matches(c["not"][0], rank)
        raise ValueError(f"unknown constraint operator(s): {list(c)}")

    def _validate(self, c):
        """A malformed constraint is a ValueError whatever the pool holds (F3)."""
        if not isinstance(c, dict):
            raise ValueError("constraint is not an object")
        for op in ("properties", "hostlist", "ranks"):
            if op in c:
                return
        for op in ("and", "or", "not"):
            if op in c:
                for sub in c[op]:
                    self._validate(sub)
                return
        raise ValueError(f"unknown constraint operator(s): {list(c)}")

    def _allowed(self, constraint):
        """The set of ranks a constraint allows (all ranks when there is none)."""
        if constraint is None:
            return set(self.nodes)
        if isinstance(constraint, str):
            constraint = json.loads(constraint)
        self._validate(constraint)
        return {r for r in self.nodes if self._matches(constraint, r)}

    # -- §6 ---------------------------------------------------------------

    def check_feasibility(self, req):
        self._check_discrete(req)
        self._feasibility(req, self._allowed(req.constraint))

    def _feasibility(self, req, allowed):
        nodes = [self.nodes[r] for r in sorted(allowed)]
        size, gps = req.slot_size, req.gpu_per_slot
        if req.exclusive:
            need = max(req.nnodes, 1)
            if self.policy == "worst-fit":   # M8: the slot size, not per_node slots
                ok = [n for n in nodes
                      if len(n.cores) >= size and (gps == 0 or len(n.gpus) >= gps)]
            else:                             # F9
                per_node = req.nslots // need
                ok = [n for n in nodes
                      if len(n.cores) >= per_node * size and len(n.gpus) >= per_node * gps]
            if len(ok) < need:
                raise Infeasible("exclusive")
            return
        if req.nnodes > 0:
            per_node = req.nslots // req.nnodes
            ok = [n for n in nodes
                  if len(n.cores) >= per_node * size and len(n.gpus) >= per_node * gps]
            if len(ok) < req.nnodes:
                raise Infeasible("nodes")
            return
        if sum(len(n.cores) // size for n in nodes) < req.nslots:
            raise Infeasible("slots")
        if gps > 0 and sum(min(len(n.cores) // size, len(n.gpus) // gps)
                           for n in nodes) < req.nslots:
            raise Infeasible("gpu slots")

    # -- §5 ---------------------------------------------------------------

    def _candidates(self, req, allowed):
        """Step 3 and 4: eligible ranks in policy order."""
        size, gps = req.slot_size, req.gpu_per_slot
        found = []
        for r in sorted(allowed):
            n = self.nodes[r]
            if not n.up:
                continue
            fc, fg = n.free_cores(), n.free_gpus()
            if req.exclusive:
                if len(fc) != len(n.cores):
                    continue
                if gps > 0 and len(fg) < gps:
                    continue
                if self.policy != "worst-fit":   # F9
                    per_node = req.nslots // req.nnodes
                    if len(n.cores) < per_node * size or len(n.gpus) < per_node * gps:
                        continue
            elif len(fc) < size or len(fg) < gps:
                continue
            found.append((r, len(fc), len(fg)))
        if self.policy == "worst-fit":
            found.sort(key=lambda x: (-x[1], -x[2], x[0]))
        elif self.policy == "best-fit":
            found.sort(key=lambda x: (x[1], x[2], x[0]))
        return [r for r, _, _ in found]

    def _select(self, req, candidates):
        """Step 5: ``({rank: (cores, gpus)}, slots)``, or None when too few."""
        size, gps = req.slot_size, req.gpu_per_slot
        picked = {}
        if req.nnodes > 0:
            per_node = req.nslots // req.nnodes
            for r in candidates:
                if req.nnodes_max is not None and len(picked) >= req.nnodes_max:
                    break
                fc, fg = self.nodes[r].free_cores(), self.nodes[r].free_gpus()
                if req.exclusive:
                    picked[r] = (set(fc), set(fg))
                elif len(fc) >= per_node * size and len(fg) >= per_node * gps:
                    picked[r] = (set(fc[:per_node * size]), set(fg[:per_node * gps]))
            if len(picked) < req.nnodes:
                return None
            return picked, per_node * len(picked)
        taken = 0
        for r in candidates:
            if req.nslots_max is not None and taken >= req.nslots_max:
                break
            fc, fg = self.nodes[r].free_cores(), self.nodes[r].free_gpus()
            k = len(fc) // size
            if gps > 0:
                k = min(k, len(fg) // gps)
            if req.nslots_max is not None:
                k = min(k, req.nslots_max - taken)
            if k > 0:
                picked[r] = (set(fc[:k * size]), set(fg[:k * gps]))
                taken += k
        if taken < req.nslots:
            return None
        return picked, taken

    def alloc(self, jobid, req, clock_before=None):
        """Returns ``(placement, slots)``; raises Insufficient / Infeasible / ValueError.
        ``clock_before``: ``time.time()`` read before the real pool's alloc."""
        self._check_discrete(req)
        allowed = self._allowed(req.constraint)
        chosen = self._select(req, self._candidates(req, allowed))
        if chosen is None:
            self._feasibility(req, allowed)
            raise Insufficient("insufficient resources")
        picked, nslots = chosen
        for r, (cores, gpus) in picked.items():
            self.nodes[r].alloc_cores |= cores
            self.nodes[r].alloc_gpus |= gpus
        earliest = None
        if req.duration > 0:
            end, approximate = time.time() + req.duration, True
            if clock_before is not None:
                earliest = clock_before + req.duration
        elif self.expiration > 0:
            end, approximate = self.expiration, False
        else:
            end, approximate = 0.0, False
        if jobid in self.jobs:
            self.clean = False  # M11: the earlier allocation stays allocated, unrecorded
        self.jobs[jobid] = Job(end, picked, approximate, earliest)  # a replaced key keeps its place
        self.generation += 1
        return picked, nslots

    def alloc_result_dict(self, picked, nslots):
        """§5 step 8: what the allocation result's ``to_dict()`` must be."""
        props = {p: s & set(picked) for p, s in self.properties.items()
                 if not p.startswith("+") and s & set(picked)}
        return r_dict(picked, 0.0, 0.0, nslots, self.names, props, self.scheduling)

    # -- §7 ---------------------------------------------------------------

    def _release(self, held):
        for r, (cores, gpus) in held.items():
            if r in self.nodes:   # ranks removed since are skipped
                self.nodes[r].alloc_cores -= cores
                self.nodes[r].alloc_gpus -= gpus

    def free(self, jobid, R=None, final=False):
        job = self.jobs.get(jobid)
        if R is not None and job is not None:
            if set(R) - set(job.held):
                raise ValueError("R contains ranks not in job allocation")
            if final and {r: (set(c), set(g)) for r, (c, g) in R.items()} != job.held:
                raise ValueError("final R mismatch")
        if final or R is None:
            if job is None:
                return
            del self.jobs[jobid]
            self._release(job.held)
        else:
            if job is None or any(set(c) != job.held[r][0] or set(g) != job.held[r][1]
                                  for r, (c, g) in R.items()):
                self.clean = False  # M12 / M13: R is not exactly what the job holds
            self._release(R)
            if job is not None:
                for r in R:
                    del job.held[r]   # whole ranks, even if R named only some cores
        self.generation += 1

    def register_alloc(self, jobid, R, expiration):
        missing = set(R) - set(self.nodes)
        if missing:
            raise ValueError(f"allocation contains ranks not in resource pool: {missing}")
        if jobid in self.jobs or any(self.nodes[r].alloc_cores & set(c)
                                     or self.nodes[r].alloc_gpus & set(g)
                                     for r, (c, g) in R.items()):
            self.clean = False  # M14 (overlap), or M11 for a recorded jobid
        for r, (cores, gpus) in R.items():
            self.nodes[r].alloc_cores |= set(cores)
            self.nodes[r].alloc_gpus |= set(gpus)
        self.jobs[jobid] = Job(float(expiration), R)
        self.generation += 1

    def update_expiration(self, jobid, expiration):
        if jobid in self.jobs:
            self.jobs[jobid].end_time = expiration
            self.jobs[jobid].approximate = False
            self.generation += 1

    def job_end_times(self):
        return [(jobid, job.end_time) for jobid, job in self.jobs.items()]

    # -- §8 ---------------------------------------------------------------

    def mark(self, ids, up):
        """``ids``: "all" or a set of rank ids (ranks not in the pool are ignored)."""
        for r, n in self.nodes.items():
            if ids == "all" or r in ids:
                n.up = up
        self.generation += 1

    def remove_ranks(self, ids):
        for r in ids:
            self.nodes.pop(r, None)
            self.names.pop(r, None)
        for members in self.properties.values():
            members -= set(ids)
        self.generation += 1

    # -- §2.4, §9: what the pool and its views must write -------------------

    def topology(self):
        return {r: (n.cores, n.gpus) for r, n in self.nodes.items()}

    def allocated(self):
        return {r: (n.alloc_cores, n.alloc_gpus) for r, n in self.nodes.items()
                if n.alloc_cores or n.alloc_gpus}

    def down(self):
        return {r: (n.cores, n.gpus) for r, n in self.nodes.items() if not n.up}

    def to_dict(self):
        # r_dict writes a table whose every set became empty as {} (M15).
        return r_dict(self.topology(), self.starttime, self.expiration, self.nslots,
                      self.names if self.has_nodelist else None, self.properties,
                      self.scheduling)

    def resource_set_dict(self):
        """``to_resource_set().to_dict()``: the whole topology, properties, times and
        nodelist; no allocation or up/down state, no nslots, no scheduling."""
        return r_dict(self.topology(), self.starttime, self.expiration, 0,
                      self.names if self.has_nodelist else None, self.properties)

    def allocated_dict(self):
        """``copy_allocated().to_dict()``: properties intersected, ``+`` names kept;
        no nodelist (M17), no scheduling."""
        alloc = self.allocated()
        props = {p: s & set(alloc) for p, s in self.properties.items() if s & set(alloc)}
        return r_dict(alloc, self.starttime, self.expiration, properties=props)

    def down_dict(self):
        """``copy_down().to_dict()``: no properties, no nodelist."""
        return r_dict(self.down(), self.starttime, self.expiration)
