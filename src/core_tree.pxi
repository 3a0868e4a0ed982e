# --------------------------------------------------------------------------
# Tree placement: node types as group masks and TreePool's per-rank selection
# --------------------------------------------------------------------------
#
# A node type is a list of levels (finest first), each a *set* of groups; named
# container levels are further sets. A group is a core mask and a GPU mask in
# a topology's row layout (``wc``/``wg`` words, bit = node-local id) plus the
# group's full id counts: ids beyond the row width are never free, but the
# counts still matter where TreePool counts a whole group. Ranks refer to a
# type by index (``TreeIndex``); the Python shell turns topology trees and
# names into these sets and indexes.

MODE_CPU = 0
MODE_GPU = 1
MODE_CONTAINER = 2

cdef Py_ssize_t _last_visits = 0


def tree_last_visits():
    """How many candidate ranks the last :func:`tree_allocate` examined (for
    tests that pin the index's work by operation counts, never by time)."""
    return _last_visits


cdef class TreeTypes:
    """Immutable group sets of the node types of one row layout.

    ``TreeTypes(wc, wg, sets, levels)``: ``sets`` is a list of group sets, each
    a list of ``(cores, gpus)`` :class:`IdRanges`; ``levels[t]`` lists the set
    index of each level of type ``t``, finest first.
    """

    cdef readonly Py_ssize_t wc
    cdef readonly Py_ssize_t wg
    cdef readonly Py_ssize_t ntypes
    cdef readonly Py_ssize_t nsets
    cdef Py_ssize_t ngroups
    cdef uint64_t* gcm
    cdef uint64_t* ggm
    cdef int64_t* fullc
    cdef int64_t* fullg
    cdef int64_t* inc
    cdef int64_t* ing
    cdef int32_t* set_lo
    cdef int32_t* type_lo
    cdef int32_t* lev_set
    cdef Py_ssize_t maxset

    def __cinit__(self, Py_ssize_t wc, Py_ssize_t wg, list sets, list levels):
        cdef Py_ssize_t s, k, gi = 0, nlev = 0, t
        cdef IdRanges cr, gr
        if wc < 1 or wg < 1:
            raise ValueError("row widths must be at least one word")
        self.wc = wc
        self.wg = wg
        self.nsets = len(sets)
        self.ntypes = len(levels)
        self.ngroups = 0
        self.maxset = 0
        for s in range(self.nsets):
            self.ngroups += len(sets[s])
            if len(sets[s]) > self.maxset:
                self.maxset = len(sets[s])
        for t in range(self.ntypes):
            nlev += len(levels[t])
        self.gcm = <uint64_t*>_calloc(self.ngroups * wc, sizeof(uint64_t))
        self.ggm = <uint64_t*>_calloc(self.ngroups * wg, sizeof(uint64_t))
        self.fullc = <int64_t*>_calloc(self.ngroups, sizeof(int64_t))
        self.fullg = <int64_t*>_calloc(self.ngroups, sizeof(int64_t))
        self.inc = <int64_t*>_calloc(self.ngroups, sizeof(int64_t))
        self.ing = <int64_t*>_calloc(self.ngroups, sizeof(int64_t))
        self.set_lo = <int32_t*>_calloc(self.nsets + 1, sizeof(int32_t))
        self.type_lo = <int32_t*>_calloc(self.ntypes + 1, sizeof(int32_t))
        self.lev_set = <int32_t*>_calloc(nlev, sizeof(int32_t))
        for s in range(self.nsets):
            self.set_lo[s] = <int32_t>gi
            for cr, gr in sets[s]:
                self.fullc[gi] = cr.total
                self.fullg[gi] = gr.total
                self.inc[gi] = _fill_mask(&self.gcm[gi * wc], wc, cr)
                self.ing[gi] = _fill_mask(&self.ggm[gi * wg], wg, gr)
                gi += 1
        self.set_lo[self.nsets] = <int32_t>gi
        k = 0
        for t in range(self.ntypes):
            self.type_lo[t] = <int32_t>k
            for s in levels[t]:
                if s < 0 or s >= self.nsets:
                    raise ValueError(f"level set {s} out of range")
                self.lev_set[k] = <int32_t>s
                k += 1
        self.type_lo[self.ntypes] = <int32_t>k

    def __dealloc__(self):
        free(self.gcm)
        free(self.ggm)
        free(self.fullc)
        free(self.fullg)
        free(self.inc)
        free(self.ing)
        free(self.set_lo)
        free(self.type_lo)
        free(self.lev_set)

    def set_size(self, Py_ssize_t s):
        """Number of groups in set ``s``."""
        if s < 0 or s >= self.nsets:
            raise IndexError(s)
        return self.set_lo[s + 1] - self.set_lo[s]


cdef int64_t _fill_mask(uint64_t* row, Py_ssize_t nw, IdRanges ids) noexcept:
    """Set the bits of ``ids`` that fit in ``nw`` words; return how many fit."""
    cdef Py_ssize_t k
    cdef int64_t i, hi, n = 0, width = nw * 64
    for k in range(ids.nr):
        i = ids.lo[k]
        hi = ids.hi[k]
        if hi >= width:
            hi = width - 1
        while i <= hi:
            row[i >> 6] |= (<uint64_t>1) << (i & 63)
            n += 1
            i += 1
    return n


cdef class TreeIndex:
    """The node type of every position of a :class:`Topology`.

    ``TreeIndex(types, topo, assign)``: ``assign`` lists ``(ranks, type)`` pairs
    (later pairs win); positions no pair names have no type (-1).
    """

    cdef readonly TreeTypes types
    cdef readonly Topology topo
    cdef int32_t* ptype

    def __cinit__(self, TreeTypes types, Topology topo, list assign=None):
        cdef Py_ssize_t i, k
        cdef IdRanges ranks
        cdef int32_t t
        self.types = types
        self.topo = topo
        self.ptype = <int32_t*>_calloc(topo.n, sizeof(int32_t))
        for i in range(topo.n):
            self.ptype[i] = -1
        if assign is None:
            return
        for ranks, t in assign:
            if t < 0 or t >= types.ntypes:
                raise ValueError(f"type {t} out of range")
            for k in range(ranks.nr):
                i = topo._lower(ranks.lo[k])
                while i < topo.n and topo.ids[i] <= ranks.hi[k]:
                    self.ptype[i] = t
                    i += 1

    def __dealloc__(self):
        free(self.ptype)

    def untyped(self):
        """The ranks that have no type."""
        cdef IdRanges r = IdRanges()
        cdef Py_ssize_t i
        for i in range(self.topo.n):
            if self.ptype[i] < 0:
                r._push(self.topo.ids[i], self.topo.ids[i])
        return r

    def type_at(self, int64_t rank):
        """The type of ``rank`` (-1: none or not in the topology)."""
        cdef Py_ssize_t i = self.topo._index(rank)
        return -1 if i < 0 else self.ptype[i]

    def restrict(self, Topology sub):
        """The index of ``sub``, whose ranks take their types from this one."""
        cdef TreeIndex r = TreeIndex(self.types, sub)
        cdef Py_ssize_t i, j
        if sub.wc != self.types.wc or sub.wg != self.types.wg:
            raise ValueError("topology has another row layout")
        for i in range(sub.n):
            j = self.topo._index(sub.ids[i])
            r.ptype[i] = self.ptype[j] if j >= 0 else -1
        return r

    def type_counts(self, RankMask mask=None):
        """Ranks per type (only positions in ``mask`` when given), as a list."""
        cdef list out = [0] * self.types.ntypes
        cdef Py_ssize_t i
        cdef int64_t* c = <int64_t*>_calloc(self.types.ntypes + 1, sizeof(int64_t))
        if mask is not None and mask.n != self.topo.n:
            free(c)
            raise ValueError("mask belongs to another topology")
        try:
            for i in range(self.topo.n):
                if mask is not None and not _bit(mask.w, i):
                    continue
                if self.ptype[i] >= 0:
                    c[self.ptype[i]] += 1
            for i in range(self.types.ntypes):
                out[i] = c[i]
        finally:
            free(c)
        return out


ctypedef struct TreeWork:
    Py_ssize_t wc
    Py_ssize_t wg
    uint64_t* rem_c
    uint64_t* rem_g
    uint64_t* av_c
    uint64_t* av_g
    uint64_t* tk_c
    uint64_t* tk_g
    uint64_t* out_c
    uint64_t* out_g
    int64_t* score     # 2 per group of the largest set: (score, index)
    int strict         # STRICT_* flags


# Strict-mode fixes of flux-core TreePool's placement (SPEC §17).
cdef enum:
    STRICT_PACK = 1     # T5: CPU slots continue into coarser levels
    STRICT_NOCORE = 2   # T7: slots without cores are counted, not "one per node"
TREE_STRICT_PACK = STRICT_PACK
TREE_STRICT_NOCORE = STRICT_NOCORE


cdef uint64_t* _work_init(TreeWork* w, TreeTypes T, Py_ssize_t wc, Py_ssize_t wg,
                          int strict) except NULL:
    """Lay out the per-rank scratch rows of ``w`` in one buffer (the caller frees it)."""
    cdef uint64_t* scratch = <uint64_t*>_calloc(8 * (wc + wg) + 2 * (T.maxset + 1),
                                                sizeof(uint64_t))
    w.wc = wc
    w.wg = wg
    w.rem_c = scratch
    w.av_c = scratch + wc
    w.tk_c = scratch + 2 * wc
    w.out_c = scratch + 3 * wc
    w.rem_g = scratch + 4 * wc
    w.av_g = scratch + 4 * wc + wg
    w.tk_g = scratch + 4 * wc + 2 * wg
    w.out_g = scratch + 4 * wc + 3 * wg
    w.score = <int64_t*>(scratch + 8 * (wc + wg))
    w.strict = strict
    return scratch


cdef inline void _zero(uint64_t* row, Py_ssize_t nw) noexcept:
    memset(row, 0, nw * 8)


cdef inline int64_t _and_count(uint64_t* dst, const uint64_t* a, const uint64_t* b,
                               Py_ssize_t nw) noexcept:
    cdef Py_ssize_t k
    cdef int64_t c = 0
    for k in range(nw):
        dst[k] = a[k] & b[k]
        c += fp_popcount64(dst[k])
    return c


cdef inline int64_t _and_pop(const uint64_t* a, const uint64_t* b, Py_ssize_t nw) noexcept:
    cdef Py_ssize_t k
    cdef int64_t c = 0
    for k in range(nw):
        c += fp_popcount64(a[k] & b[k])
    return c


cdef int64_t _take_low(uint64_t* av, uint64_t* tk, Py_ssize_t nw, int64_t want) noexcept:
    """Move the ``want`` lowest set bits of ``av`` into ``tk`` (cleared first)."""
    cdef Py_ssize_t k
    cdef int64_t got = 0
    cdef uint64_t x, low
    memset(tk, 0, nw * 8)
    for k in range(nw):
        if got >= want:
            break
        x = av[k]
        while x and got < want:
            low = x & (~x + 1)
            tk[k] |= low
            x &= x - 1
            got += 1
        av[k] &= ~tk[k]
    return got


cdef inline void _or_into(uint64_t* dst, const uint64_t* src, Py_ssize_t nw) noexcept:
    cdef Py_ssize_t k
    for k in range(nw):
        dst[k] |= src[k]


cdef inline void _clear_in(uint64_t* dst, const uint64_t* src, Py_ssize_t nw) noexcept:
    cdef Py_ssize_t k
    for k in range(nw):
        dst[k] &= ~src[k]


cdef int64_t _tree_gpu(TreeTypes T, int32_t t, const uint64_t* fc, const uint64_t* fg,
                       int64_t s, int64_t g, int64_t maxs, bint excl, TreeWork* w) noexcept:
    """GPU slots of ``s`` cores and ``g`` GPUs from one rank: every group of each
    level, finest level first, gives as many slots as it holds."""
    cdef Py_ssize_t wc = w.wc, wg = w.wg, li, gi, sid
    cdef int64_t n = 0, cc, cg, xc, xg, k
    _zero(w.out_c, wc)
    _zero(w.out_g, wg)
    if s == 0 and not (w.strict & STRICT_NOCORE):
        return 1
    memcpy(w.rem_c, fc, wc * 8)
    memcpy(w.rem_g, fg, wg * 8)
    for li in range(T.type_lo[t + 1] - T.type_lo[t]):
        sid = T.lev_set[T.type_lo[t] + li]
        for gi in range(T.set_lo[sid], T.set_lo[sid + 1]):
            if excl and li == 0:
                memcpy(w.av_c, &T.gcm[gi * wc], wc * 8)
                memcpy(w.av_g, &T.ggm[gi * wg], wg * 8)
                cc = T.fullc[gi]
                cg = T.fullg[gi]
                xc = cc - T.inc[gi]
                xg = cg - T.ing[gi]
            else:
                cc = _and_count(w.av_c, w.rem_c, &T.gcm[gi * wc], wc)
                cg = _and_count(w.av_g, w.rem_g, &T.ggm[gi * wg], wg)
            while cc >= s and cg >= g:
                if maxs >= 0 and n >= maxs:
                    return n
                _take_low(w.av_c, w.tk_c, wc, s)
                _take_low(w.av_g, w.tk_g, wg, g)
                _or_into(w.out_c, w.tk_c, wc)
                _or_into(w.out_g, w.tk_g, wg)
                _clear_in(w.rem_c, w.tk_c, wc)
                _clear_in(w.rem_g, w.tk_g, wg)
                cc -= s
                cg -= g
                n += 1
    return n


cdef int _cmp_score(const void* a, const void* b) noexcept nogil:
    cdef const int64_t* x = <const int64_t*>a
    cdef const int64_t* y = <const int64_t*>b
    if x[0] != y[0]:
        return (x[0] > y[0]) - (x[0] < y[0])
    return (x[1] > y[1]) - (x[1] < y[1])


cdef int64_t _tree_cpu(TreeTypes T, int32_t t, const uint64_t* fc, int64_t s, int64_t maxs,
                       bint excl, TreeWork* w) noexcept:
    """CPU-only slots from one rank: the finest level with a group that holds a
    slot, its groups fewest-available first."""
    cdef Py_ssize_t wc = w.wc, li, gi, sid, chosen = -1, chosen_li = 0, j, ng, lo
    cdef int64_t n = 0, cc
    cdef bint use_excl = False
    _zero(w.out_c, wc)
    _zero(w.out_g, w.wg)
    if s == 0:
        if (w.strict & STRICT_NOCORE) and maxs >= 0:
            return maxs
        return 1
    memcpy(w.rem_c, fc, wc * 8)
    for li in range(T.type_lo[t + 1] - T.type_lo[t]):
        sid = T.lev_set[T.type_lo[t] + li]
        for gi in range(T.set_lo[sid], T.set_lo[sid + 1]):
            if excl and li == 0:
                if T.fullc[gi] >= s:
                    chosen = sid
                    use_excl = True
                    break
            elif _and_pop(w.rem_c, &T.gcm[gi * wc], wc) >= s:
                chosen = sid
                break
        if chosen >= 0:
            chosen_li = li
            break
    if chosen < 0:
        return 0
    lo = T.set_lo[chosen]
    ng = T.set_lo[chosen + 1] - lo
    for j in range(ng):
        gi = lo + j
        w.score[2 * j] = T.fullc[gi] if use_excl else _and_pop(w.rem_c, &T.gcm[gi * wc], wc)
        w.score[2 * j + 1] = j
    qsort(w.score, ng, 2 * sizeof(int64_t), _cmp_score)
    for j in range(ng):
        gi = lo + w.score[2 * j + 1]
        if use_excl:
            memcpy(w.av_c, &T.gcm[gi * wc], wc * 8)
            cc = T.fullc[gi]
        else:
            cc = _and_count(w.av_c, w.rem_c, &T.gcm[gi * wc], wc)
        while cc >= s:
            if maxs >= 0 and n >= maxs:
                return n
            _take_low(w.av_c, w.tk_c, wc, s)
            _or_into(w.out_c, w.tk_c, wc)
            _clear_in(w.rem_c, w.tk_c, wc)
            cc -= s
            n += 1
    if not (w.strict & STRICT_PACK):
        return n
    # Strict (T5): what the chosen level left, packed level by level above it.
    if use_excl:
        memcpy(w.rem_c, fc, wc * 8)
        _clear_in(w.rem_c, w.out_c, wc)
    for li in range(chosen_li + 1, T.type_lo[t + 1] - T.type_lo[t]):
        sid = T.lev_set[T.type_lo[t] + li]
        for gi in range(T.set_lo[sid], T.set_lo[sid + 1]):
            cc = _and_count(w.av_c, w.rem_c, &T.gcm[gi * wc], wc)
            while cc >= s:
                if maxs >= 0 and n >= maxs:
                    return n
                _take_low(w.av_c, w.tk_c, wc, s)
                _or_into(w.out_c, w.tk_c, wc)
                _clear_in(w.rem_c, w.tk_c, wc)
                cc -= s
                n += 1
    return n


cdef inline bint _subset(const uint64_t* a, const uint64_t* b, Py_ssize_t nw) noexcept:
    cdef Py_ssize_t k
    for k in range(nw):
        if a[k] & ~b[k]:
            return False
    return True


cdef inline bint _free_group(TreeTypes T, Py_ssize_t gi, const uint64_t* fc,
                             const uint64_t* fg) noexcept:
    if T.fullc[gi] != T.inc[gi] or T.fullg[gi] != T.ing[gi]:
        return False
    return _subset(&T.gcm[gi * T.wc], fc, T.wc) and _subset(&T.ggm[gi * T.wg], fg, T.wg)


cdef int64_t _tree_container(TreeTypes T, int32_t sid, const uint64_t* fc, const uint64_t* fg,
                             int64_t maxt, int64_t per, TreeWork* w) noexcept:
    """Slots of ``per`` whole free containers of set ``sid`` from one rank, the
    containers in order, up to ``maxt`` slots (-1: all)."""
    cdef Py_ssize_t wc = w.wc, wg = w.wg, gi
    cdef int64_t n = 0, want
    _zero(w.out_c, wc)
    _zero(w.out_g, wg)
    if sid < 0:
        return 0
    if per > 1:
        for gi in range(T.set_lo[sid], T.set_lo[sid + 1]):
            if _free_group(T, gi, fc, fg):
                n += 1
        want = n // per
        if maxt >= 0 and want > maxt:
            want = maxt
        maxt = want * per
        n = 0
    for gi in range(T.set_lo[sid], T.set_lo[sid + 1]):
        if maxt >= 0 and n >= maxt:
            break
        if not _free_group(T, gi, fc, fg):
            continue
        _or_into(w.out_c, &T.gcm[gi * wc], wc)
        _or_into(w.out_g, &T.ggm[gi * wg], wg)
        n += 1
    return n // per if per > 1 else n


ctypedef struct TreePick:
    Py_ssize_t pos
    Py_ssize_t slot     # index of the pick's rows


cdef int _cmp_tpick(const void* a, const void* b) noexcept nogil:
    cdef Py_ssize_t x = (<TreePick*>a).pos, y = (<TreePick*>b).pos
    return (x > y) - (x < y)


cdef void* _grow(void* p, Py_ssize_t* cap, Py_ssize_t need, size_t size) except NULL:
    cdef Py_ssize_t c = cap[0]
    if need <= c:
        return p
    while c < need:
        c *= 2
    p = _realloc(p, c * size)
    cap[0] = c
    return p


def tree_allocate(RankPool pool, TreeIndex idx, int mode, int64_t nnodes, int64_t nnodes_max,
                  int64_t nslots, int64_t nslots_max, int64_t slot_size, int64_t gpu_per_slot,
                  bint exclusive, RankMask mask=None, list container_sets=None,
                  bint claim_node=False, int strict=0, int64_t per_slot=1,
                  RankMask hint=None):
    """Place a request the way TreePool does and mark it allocated.

    Candidates are the up ranks in ``mask`` with at least ``slot_size`` free
    cores (``exclusive``: all cores free) and ``gpu_per_slot`` free GPUs, visited
    fewest free cores (then GPUs) first, lowest position on ties; each is asked
    for its slots by ``mode`` (``MODE_CPU``, ``MODE_GPU``, or ``MODE_CONTAINER``
    with ``container_sets[type]`` the set of whole containers, -1 for none).
    ``nnodes > 0`` takes ranks giving ``nslots // nnodes`` slots each, up to
    ``nnodes_max`` (-1: unbounded); otherwise slots up to ``nslots_max``. A rank
    taken node-exclusively (``exclusive`` with a node count in CPU/GPU mode, or
    ``claim_node``) gives all its free cores and GPUs. ``strict`` holds
    ``STRICT_*`` flags; ``per_slot`` is the containers one slot takes. ``hint``
    (container mode, no ``mask``): the ranks that may have a free container
    (:func:`tree_hint`); ranks found without one are cleared from it. Returns
    ``(allocation, slots)``, or None (nothing changed) when it does not fit.
    """
    cdef Topology topo = pool.topo
    cdef TreeTypes T = idx.types
    cdef Query q
    cdef TreeWork w
    cdef Py_ssize_t wc = topo.wc, wg = topo.wg, W = topo.wc + topo.wg
    cdef Py_ssize_t npick = 0, pcap = 16, nvis = 0, vcap = 16, k, pos
    cdef int64_t per_node = 0, taken = 0, n, maxs, minc, ming
    cdef Py_ssize_t gi
    cdef int32_t t, sid
    cdef bint ok, whole
    cdef TreePick* picks = NULL
    cdef Py_ssize_t* visited = NULL
    cdef uint64_t* rows = NULL
    cdef uint64_t* scratch = NULL
    cdef int32_t* csets = NULL
    if idx.topo is not topo:
        raise ValueError("tree index belongs to another topology")
    if T.wc != wc or T.wg != wg:
        raise ValueError("tree types have another row layout")
    if slot_size < 0 or gpu_per_slot < 0 or nslots < 0 or nnodes < 0:
        raise ValueError("counts must be non-negative")
    if per_slot < 1:
        raise ValueError("a slot takes at least one container")
    if mode not in (MODE_CPU, MODE_GPU, MODE_CONTAINER):
        raise ValueError(f"unknown tree mode {mode}")
    if mask is not None and mask.n != topo.n:
        raise ValueError("mask belongs to another topology")
    if mode == MODE_CONTAINER and (container_sets is None or len(container_sets) != T.ntypes):
        raise ValueError("container mode needs one set per type")
    pool._ensure_index()
    memset(&q, 0, sizeof(Query))
    q.policy = BEST_FIT
    q.full = exclusive
    q.c = 0 if exclusive else <int32_t>_clamp(slot_size)
    q.g = <int32_t>_clamp(gpu_per_slot)
    if hint is not None and (mode != MODE_CONTAINER or mask is not None or hint.n != topo.n):
        hint = None
    if mask is not None:
        mask._summarize(pool.P)
        q.mask = mask.w
        q.mask_any = mask.any_
    elif hint is not None:
        hint._summarize(pool.P)
        if hint.any_ == NULL:
            raise MemoryError()
        q.mask = hint.w
        q.mask_any = hint.any_
    if nnodes > 0:
        per_node = nslots // nnodes
        if not exclusive and mode != MODE_CONTAINER:
            # A rank gives at most (free cores // slot size) slots, and as many by
            # GPUs, so ranks short of a node's share are skipped by the index.
            q.c = <int32_t>_clamp(max(per_node * slot_size, slot_size))
            q.g = <int32_t>_clamp(max(per_node * gpu_per_slot, gpu_per_slot))
    try:
        scratch = _work_init(&w, T, wc, wg, strict)
        if mode == MODE_CONTAINER:
            csets = <int32_t*>_calloc(T.ntypes + 1, sizeof(int32_t))
            minc = INT64_MAX
            ming = INT64_MAX
            for k in range(T.ntypes):
                sid = container_sets[k]
                if sid >= T.nsets:
                    raise ValueError(f"container set {sid} out of range")
                csets[k] = sid
                if sid >= 0:
                    for gi in range(T.set_lo[sid], T.set_lo[sid + 1]):
                        minc = min(minc, T.fullc[gi])
                        ming = min(ming, T.fullg[gi])
            # A rank gives a container only with at least the smallest container's
            # cores and GPUs free: the index skips ranks short of that.
            if minc == INT64_MAX:
                minc = ming = 0
            if not exclusive and minc > q.c:
                q.c = <int32_t>_clamp(minc)
            if ming > q.g:
                q.g = <int32_t>_clamp(ming)
        picks = <TreePick*>_calloc(pcap, sizeof(TreePick))
        visited = <Py_ssize_t*>_calloc(vcap, sizeof(Py_ssize_t))
        rows = <uint64_t*>_calloc(pcap * W, sizeof(uint64_t))
        while True:
            if nnodes > 0 and nnodes_max >= 0 and npick >= nnodes_max:
                break
            if nnodes == 0 and nslots_max >= 0 and taken >= nslots_max:
                break
            pos = pool._find(&q)
            if pos < 0:
                break
            visited = <Py_ssize_t*>_grow(visited, &vcap, nvis + 1, sizeof(Py_ssize_t))
            visited[nvis] = pos
            nvis += 1
            pool.excl[pos >> 6] |= (<uint64_t>1) << (pos & 63)
            t = idx.ptype[pos]
            if t < 0:
                continue
            if nnodes > 0:
                maxs = per_node
            else:
                maxs = nslots_max - taken if nslots_max >= 0 else -1
            if mode == MODE_CONTAINER:
                n = _tree_container(T, csets[t], &pool.fc_rows[pos * wc],
                                    &pool.fg_rows[pos * wg], maxs, per_slot, &w)
                whole = claim_node
            elif mode == MODE_GPU:
                n = _tree_gpu(T, t, &pool.fc_rows[pos * wc], &pool.fg_rows[pos * wg],
                              slot_size, gpu_per_slot, maxs, exclusive, &w)
                whole = exclusive and nnodes > 0
            else:
                n = _tree_cpu(T, t, &pool.fc_rows[pos * wc], slot_size, maxs, exclusive, &w)
                whole = exclusive and nnodes > 0
            ok = n >= per_node if nnodes > 0 else n > 0
            if not ok:
                if hint is not None and n == 0 and maxs != 0 and per_slot == 1:
                    _hint_set(hint, pos, False)    # no free container here now
                continue
            if npick == pcap:
                picks = <TreePick*>_grow(picks, &pcap, npick + 1, sizeof(TreePick))
                rows = <uint64_t*>_realloc(rows, pcap * W * sizeof(uint64_t))
            picks[npick].pos = pos
            picks[npick].slot = npick
            if whole:
                memcpy(&rows[npick * W], &pool.fc_rows[pos * wc], wc * 8)
                memcpy(&rows[npick * W + wc], &pool.fg_rows[pos * wg], wg * 8)
            else:
                memcpy(&rows[npick * W], w.out_c, wc * 8)
                memcpy(&rows[npick * W + wc], w.out_g, wg * 8)
            npick += 1
            if nnodes == 0:
                taken += n
        global _last_visits
        _last_visits = nvis
        for k in range(nvis):
            pos = visited[k]
            pool.excl[pos >> 6] &= ~((<uint64_t>1) << (pos & 63))
        for k in range(nvis):
            pool._refresh(visited[k])
        if (nnodes > 0 and npick < nnodes) or (nnodes == 0 and taken < nslots):
            return None
        qsort(picks, npick, sizeof(TreePick), _cmp_tpick)
        result = _tree_commit(pool, picks, npick, rows)
    finally:
        free(scratch)
        free(csets)
        free(picks)
        free(visited)
        free(rows)
    return result, (per_node * npick if nnodes > 0 else taken)


cdef Topology _tree_commit(RankPool pool, TreePick* picks, Py_ssize_t npick, uint64_t* rows):
    """Move each pick's rows from the pool's free rows into a new Topology."""
    cdef Topology src = pool.topo
    cdef Topology t = Topology()
    cdef Py_ssize_t k, pos, j, wc = src.wc, wg = src.wg, W = src.wc + src.wg
    cdef uint64_t* r
    t._alloc(npick, wc, wg)
    for k in range(npick):
        pos = picks[k].pos
        r = &rows[picks[k].slot * W]
        t.ids[k] = src.ids[pos]
        for j in range(wc):
            t.crow[k * wc + j] = r[j] & pool.fc_rows[pos * wc + j]
            pool.fc_rows[pos * wc + j] &= ~r[j]
        for j in range(wg):
            t.grow[k * wg + j] = r[wc + j] & pool.fg_rows[pos * wg + j]
            pool.fg_rows[pos * wg + j] &= ~r[wc + j]
        pool.nfc[pos] = _count(&pool.fc_rows[pos * wc], wc)
        pool.nfg[pos] = _count(&pool.fg_rows[pos * wg], wg)
        pool._mark(pos)
        if k + 1 == npick or (picks[k + 1].pos >> 6) != (pos >> 6):
            pool._refresh(pos)
    t._finish()
    t._hash_shapes()
    return t


def tree_capacity(TreeIndex idx, int mode, int64_t per_node, int64_t slot_size,
                  int64_t gpu_per_slot, bint exclusive, RankMask mask=None,
                  list container_sets=None, int strict=0, int64_t per_slot=1):
    """How many ranks (in ``mask`` when given), empty, give ``per_node`` slots the
    way :func:`tree_allocate` asks a rank (all their cores and GPUs free)."""
    cdef Topology topo = idx.topo
    cdef TreeTypes T = idx.types
    cdef TreeWork w
    cdef Py_ssize_t i, W = topo.wc + topo.wg
    cdef int64_t n, eligible = 0, key
    cdef int32_t t
    cdef uint64_t* scratch = NULL
    cdef dict memo = {}
    if mask is not None and mask.n != topo.n:
        raise ValueError("mask belongs to another topology")
    if mode == MODE_CONTAINER and (container_sets is None or len(container_sets) != T.ntypes):
        raise ValueError("container mode needs one set per type")
    if slot_size < 0 or gpu_per_slot < 0 or per_slot < 1:
        raise ValueError("counts must be non-negative")
    try:
        scratch = _work_init(&w, T, topo.wc, topo.wg, strict)
        for i in range(topo.n):
            if mask is not None and not _bit(mask.w, i):
                continue
            t = idx.ptype[i]
            if t < 0:
                continue
            key = <int64_t>t * (topo.nshapes + 1) + topo.shape[i]
            got = memo.get(key)
            if got is None:
                if mode == MODE_CONTAINER:
                    n = _tree_container(T, container_sets[t], &topo.crow[i * topo.wc],
                                        &topo.grow[i * topo.wg], per_node, per_slot, &w)
                elif mode == MODE_GPU:
                    n = _tree_gpu(T, t, &topo.crow[i * topo.wc], &topo.grow[i * topo.wg],
                                  slot_size, gpu_per_slot, per_node, exclusive, &w)
                else:
                    n = _tree_cpu(T, t, &topo.crow[i * topo.wc], slot_size, per_node,
                                  exclusive, &w)
                got = n >= per_node
                memo[key] = got
            if got:
                eligible += 1
    finally:
        free(scratch)
    return eligible


cdef void _hint_set(RankMask m, Py_ssize_t pos, bint flag) noexcept:
    """Set or clear one position of a mask and keep its block summary in step."""
    cdef Py_ssize_t b = pos >> 6, v
    if flag:
        m.w[b] |= (<uint64_t>1) << (pos & 63)
    else:
        m.w[b] &= ~((<uint64_t>1) << (pos & 63))
    if m.any_ == NULL:
        return
    v = m.P + b
    m.any_[v] = m.w[b] != 0
    v >>= 1
    while v >= 1:
        m.any_[v] = m.any_[2 * v] | m.any_[2 * v + 1]
        v >>= 1


def tree_hint(TreeIndex idx, list container_sets):
    """A mask of the positions whose type has a set in ``container_sets`` (one
    per type, -1: none): the ranks that may have a free container of it. Kept
    conservative by its users: :func:`tree_allocate` clears ranks it finds
    without one, :func:`tree_hint_touch` sets ranks that got resources back."""
    cdef Topology topo = idx.topo
    cdef RankMask m = RankMask._new(topo.n)
    cdef Py_ssize_t i
    cdef int32_t t
    if len(container_sets) != idx.types.ntypes:
        raise ValueError("one container set per type is needed")
    cdef list has = [s >= 0 for s in container_sets]
    for i in range(topo.n):
        t = idx.ptype[i]
        if t >= 0 and has[t]:
            m.w[i >> 6] |= (<uint64_t>1) << (i & 63)
    return m


def tree_hint_touch(RankMask m, TreeIndex idx, list container_sets, Topology freed):
    """Mark the ranks of ``freed`` in hint ``m`` (built by :func:`tree_hint` from
    ``idx`` and ``container_sets``) as possibly having a free container again."""
    cdef Topology topo = idx.topo
    cdef Py_ssize_t k, pos
    cdef int32_t t
    if m.n != topo.n:
        raise ValueError("mask belongs to another topology")
    if len(container_sets) != idx.types.ntypes:
        raise ValueError("one container set per type is needed")
    cdef list has = [s >= 0 for s in container_sets]
    for k in range(freed.n):
        pos = topo._index(freed.ids[k])
        if pos < 0:
            continue
        t = idx.ptype[pos]
        if t >= 0 and has[t]:
            _hint_set(m, pos, True)


def tree_hint_copy(RankMask m):
    """An independent copy of a hint (bits and summary)."""
    cdef RankMask c = RankMask._new(m.n)
    memcpy(c.w, m.w, m.nw * 8)
    if m.any_ != NULL:
        c.any_ = <uint8_t*>_calloc(2 * m.P, 1)
        memcpy(c.any_, m.any_, 2 * m.P)
        c.P = m.P
    return c
