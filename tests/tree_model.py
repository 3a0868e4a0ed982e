"""A plain-Python model of TreePool placement (SPEC §17), for the state machine.

Sets of ints and straightforward loops; no fluxpool code. Each rank has a
topology given as ``levels`` (finest first, each a list of ``(cores, gpus)``
frozensets) and ``containers`` (level name -> list of groups); the model
follows flux-core's TreePool rules as SPEC §17 states them, and fixes T5–T9
when ``strict``.
"""


class Insufficient(Exception):
    pass


class Infeasible(Exception):
    pass


def take_low(avail, n):
    return set(sorted(avail)[:n])


class TreeModel:
    def __init__(self, ranks, strict=False):
        """``ranks``: rank -> dict(cores=set, gpus=set, levels=..., containers=...)."""
        self.strict = strict
        self.ranks = {}
        for r, info in sorted(ranks.items()):
            self.ranks[r] = dict(info, up=True, free_c=set(info["cores"]),
                                 free_g=set(info["gpus"]))
        self.jobs = {}

    def copy(self):
        new = TreeModel({}, self.strict)
        new.ranks = {r: dict(i, free_c=set(i["free_c"]), free_g=set(i["free_g"]))
                     for r, i in self.ranks.items()}
        new.jobs = dict(self.jobs)
        return new

    # -- per-rank slot counting -------------------------------------------

    def gpu_rank(self, info, fc, fg, s, g, maxs, excl):
        if s == 0 and not self.strict:
            return set(), set(), 1
        rem_c, rem_g, out_c, out_g, n = set(fc), set(fg), set(), set(), 0
        for li, level in enumerate(info["levels"]):
            for gc, gg in level:
                if excl and li == 0:
                    av_c, av_g = set(gc), set(gg)
                else:
                    av_c, av_g = rem_c & gc, rem_g & gg
                while len(av_c) >= s and len(av_g) >= g:
                    if maxs is not None and n >= maxs:
                        return out_c, out_g, n
                    tc, tg = take_low(av_c, s), take_low(av_g, g)
                    out_c |= tc
                    out_g |= tg
                    rem_c -= tc
                    rem_g -= tg
                    av_c -= tc
                    av_g -= tg
                    n += 1
        return out_c, out_g, n

    def cpu_rank(self, info, fc, s, maxs, excl):
        if s == 0:
            return set(), (maxs if self.strict and maxs is not None else 1)
        rem, out, n = set(fc), set(), 0
        chosen = None
        for li, level in enumerate(info["levels"]):
            if excl and li == 0:
                if any(len(gc) >= s for gc, _ in level):
                    chosen, use_excl = li, True
                    break
            elif any(len(rem & gc) >= s for gc, _ in level):
                chosen, use_excl = li, False
                break
        if chosen is None:
            return set(), 0
        groups = info["levels"][chosen]
        order = sorted(range(len(groups)),
                       key=lambda j: (len(groups[j][0]) if use_excl else len(rem & groups[j][0]), j))
        state = {"rem": rem, "out": out, "n": n}
        for j in order:
            gc = groups[j][0]
            if self._pack(state, set(gc) if use_excl else rem & gc, s, maxs):
                return state["out"], state["n"]
        if self.strict:
            if use_excl:
                state["rem"] = set(fc) - state["out"]
            for level in info["levels"][chosen + 1:]:
                for gc, _ in level:
                    if self._pack(state, state["rem"] & gc, s, maxs):
                        return state["out"], state["n"]
        return state["out"], state["n"]

    @staticmethod
    def _pack(state, av, s, maxs):
        """Take slots of ``s`` cores from ``av`` into ``state``; True when ``maxs`` is reached."""
        while len(av) >= s:
            if maxs is not None and state["n"] >= maxs:
                return True
            t = take_low(av, s)
            state["out"] |= t
            state["rem"] -= t
            av -= t
            state["n"] += 1
        return False

    def container_rank(self, info, fc, fg, name, maxt, per):
        groups = [(gc, gg) for gc, gg in info["containers"].get(name, [])
                  if gc <= fc and gg <= fg]
        if per > 1:
            want = len(groups) // per
            if maxt is not None:
                want = min(want, maxt)
            maxt = want * per
        if maxt is not None:
            groups = groups[:maxt]
        out_c, out_g = set(), set()
        for gc, gg in groups:
            out_c |= gc
            out_g |= gg
        return out_c, out_g, (len(groups) // per if per > 1 else len(groups))

    # -- requests -----------------------------------------------------------

    def alloc(self, jobid, req):
        """``req``: dict nnodes, nnodes_max, nslots, nslots_max, size, gpus,
        exclusive, container, container_count. Returns {rank: (cores, gpus)}, nslots."""
        s, g, excl = req["size"], req["gpus"], req["exclusive"]
        container = req["container"]
        per = req["container_count"] if self.strict else 1
        cands = []
        for r, i in self.ranks.items():
            if not i["up"]:
                continue
            need = len(i["cores"]) if excl else s
            if len(i["free_c"]) < need or (g > 0 and len(i["free_g"]) < g):
                continue
            cands.append((len(i["free_c"]), len(i["free_g"]), r))
        cands.sort()
        nnodes, nslots = req["nnodes"], req["nslots"]
        selected = {}
        taken = 0
        per_node = nslots // nnodes if nnodes > 0 else 0
        for _c, _g, r in cands:
            info = self.ranks[r]
            fc, fg = info["free_c"], info["free_g"]
            if nnodes > 0:
                if req["nnodes_max"] is not None and len(selected) >= req["nnodes_max"]:
                    break
                maxs = per_node
            else:
                if req["nslots_max"] is not None and taken >= req["nslots_max"]:
                    break
                maxs = None if req["nslots_max"] is None else req["nslots_max"] - taken
            if container is not None:
                oc, og, n = self.container_rank(info, fc, fg, container, maxs, per)
                whole = self.strict and excl
            elif g > 0:
                oc, og, n = self.gpu_rank(info, fc, fg, s, g, maxs, excl)
                whole = excl and nnodes > 0
            else:
                oc, n = self.cpu_rank(info, fc, s, maxs, excl)
                og = set()
                whole = excl and nnodes > 0
            if (n < per_node) if nnodes > 0 else (n == 0):
                continue
            if whole:
                oc, og = set(fc), set(fg)
            selected[r] = (oc & fc, og & fg)
            if nnodes == 0:
                taken += n
        if (nnodes > 0 and len(selected) < nnodes) or (nnodes == 0 and taken < nslots):
            self.feasibility(req)
            raise Insufficient()
        for r, (oc, og) in selected.items():
            self.ranks[r]["free_c"] -= oc
            self.ranks[r]["free_g"] -= og
        self.jobs[jobid] = selected
        return selected, (per_node * len(selected) if nnodes > 0 else taken)

    def capacity(self, info, req, per_node):
        s, g = req["size"], req["gpus"]
        if g > 0:
            return self.gpu_rank(info, info["cores"], info["gpus"], s, g, per_node, True)[2]
        return self.cpu_rank(info, info["cores"], s, per_node, True)[1]

    def feasibility(self, req):
        nnodes, nslots = req["nnodes"], req["nslots"]
        s, g = req["size"], req["gpus"]
        ranks = list(self.ranks.values())
        if req["container"] is not None:
            per = req["container_count"] if self.strict else 1
            have = [len(i["containers"].get(req["container"], [])) // per for i in ranks]
            if nnodes > 0:
                if sum(1 for h in have if h >= nslots // nnodes) < nnodes:
                    raise Infeasible()
            elif sum(have) < nslots:
                raise Infeasible()
            return
        if req["exclusive"]:
            need = max(nnodes, 1)
            if self.strict:
                ok = sum(1 for i in ranks if self.capacity(i, req, nslots // need) >= nslots // need)
            else:
                ok = sum(1 for i in ranks
                         if len(i["cores"]) >= s and (g == 0 or len(i["gpus"]) >= g))
            if ok < need:
                raise Infeasible()
            return
        if nnodes > 0:
            per = nslots // nnodes
            ok = sum(1 for i in ranks if len(i["cores"]) >= per * s and len(i["gpus"]) >= per * g)
            if ok < nnodes:
                raise Infeasible()
            return
        if sum(len(i["cores"]) // s for i in ranks) < nslots:
            raise Infeasible()
        if g > 0 and sum(min(len(i["cores"]) // s, len(i["gpus"]) // g) for i in ranks) < nslots:
            raise Infeasible()

    def free(self, jobid):
        for r, (oc, og) in self.jobs.pop(jobid, {}).items():
            if r in self.ranks:
                self.ranks[r]["free_c"] |= oc
                self.ranks[r]["free_g"] |= og

    def set_up(self, rank, up):
        if rank in self.ranks:
            self.ranks[rank]["up"] = up

    def remove(self, rank):
        self.ranks.pop(rank, None)


def _ids(text):
    out = set()
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return frozenset(out)


def _kids(node):
    return [c for v in node.values() if isinstance(v, list) for c in v if isinstance(c, dict)]


def _everything(node):
    cores = _ids(node.get("cores", "")) if "cores" in node else frozenset()
    gpus = _ids(node.get("gpus", "")) if "gpus" in node else frozenset()
    for child in _kids(node):
        c, g = _everything(child)
        cores, gpus = cores | c, gpus | g
    return cores, gpus


def levels_of(node):
    """Groups by height above the leaves, finest first, plus the whole node
    unless it repeats the level below (SPEC §17, flux-core's rule)."""
    if "cores" in node:
        c, g = _ids(node["cores"]), _ids(node.get("gpus", ""))
        return [[(c, g)]]
    merged = []
    for child in _kids(node):
        for i, groups in enumerate(levels_of(child)):
            if i == len(merged):
                merged.append([])
            merged[i].extend(groups)
    whole = _everything(node)
    if whole[0] and not (merged and set(merged[-1]) == {whole}):
        merged.append([whole])
    return merged


def containers_of(node, name):
    """The instances of level ``name``: the first depth it appears at on each branch."""
    if isinstance(node.get(name), list):
        return [_everything(c) for c in node[name] if isinstance(c, dict)]
    return [g for child in _kids(node) for g in containers_of(child, name)]
