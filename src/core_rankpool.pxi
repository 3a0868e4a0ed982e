# --------------------------------------------------------------------------
# RankPool: free/up state and the placement index
# --------------------------------------------------------------------------

ctypedef struct Agg:
    int32_t maxfc       # most free cores on an eligible rank (-1: none)
    int32_t maxfg       # most free GPUs on an eligible rank
    int64_t maxK        # largest key fc*GW+fg (worst-fit bound)
    int64_t minKpos     # smallest key among ranks with fc > 0 (best-fit bound)
    int64_t minK        # smallest key of any eligible rank (bound for zero-core queries)
    int64_t maxKfull    # largest key among ranks whose cores are all free
    int64_t minKfull    # smallest such key


ctypedef struct Query:
    int policy
    bint full           # exclusive: every core of the rank must be free
    int32_t c           # non-full: free cores needed; full: total cores needed
    int32_t g           # free GPUs needed
    int32_t gsize       # full: total GPUs needed
    const uint64_t* mask
    const uint8_t* mask_any
    Py_ssize_t start    # first-fit: lowest position considered


ctypedef struct Pick:
    Py_ssize_t pos
    int32_t ncores      # -1: every free core
    int32_t ngpus       # -1: every free GPU


cdef int _cmp_pick(const void* a, const void* b) noexcept nogil:
    cdef Py_ssize_t x = (<Pick*>a).pos, y = (<Pick*>b).pos
    return (x > y) - (x < y)


cdef inline void _agg_clear(Agg* a) noexcept nogil:
    a.maxfc = -1
    a.maxfg = -1
    a.maxK = -1
    a.minKpos = INT64_MAX
    a.minK = INT64_MAX
    a.maxKfull = -1
    a.minKfull = INT64_MAX


cdef inline void _agg_merge(Agg* a, const Agg* b) noexcept nogil:
    if b.maxfc > a.maxfc: a.maxfc = b.maxfc
    if b.maxfg > a.maxfg: a.maxfg = b.maxfg
    if b.maxK > a.maxK: a.maxK = b.maxK
    if b.minKpos < a.minKpos: a.minKpos = b.minKpos
    if b.minK < a.minK: a.minK = b.minK
    if b.maxKfull > a.maxKfull: a.maxKfull = b.maxKfull
    if b.minKfull < a.minKfull: a.minKfull = b.minKfull


cdef class RankPool:
    """Allocation state over a :class:`Topology`: free cores/GPUs and up ranks.

    ``allocate`` places a request under one of three policies and returns the
    allocated resources as a new :class:`Topology`; ``release`` and ``occupy``
    apply a topology's rows back; ``copy`` is a few ``memcpy`` calls.
    """

    cdef readonly Topology topo
    cdef uint64_t* fc_rows
    cdef uint64_t* fg_rows
    cdef int32_t* nfc
    cdef int32_t* nfg
    cdef uint64_t* up
    cdef uint64_t* excl
    cdef uint64_t* avail    # ranks with a free core or GPU, or without cores (see _mark)
    cdef Agg* tree
    cdef void* block
    cdef size_t block_size
    cdef Py_ssize_t nw
    cdef Py_ssize_t P
    cdef bint indexed
    cdef int64_t GW

    def __cinit__(self, Topology topo=None):
        if topo is None:
            return
        self._init(topo)
        memcpy(self.fc_rows, topo.crow, topo.n * topo.wc * 8)
        memcpy(self.fg_rows, topo.grow, topo.n * topo.wg * 8)
        memcpy(self.nfc, topo.nc, topo.n * sizeof(int32_t))
        memcpy(self.nfg, topo.ng, topo.n * sizeof(int32_t))
        self._mark_all()
        self._set_all_up(True)

    cdef int _init(self, Topology topo) except -1:
        """Lay out all state in one block. Rows and counts are left for the
        caller to fill; up and excluded bits start clear; the index unbuilt."""
        cdef Py_ssize_t n = topo.n
        cdef size_t rows_c, rows_g, counts, bits
        cdef char* base
        self.topo = topo
        self.nw = _nwords(n)
        self.P = 1
        while self.P < self.nw:
            self.P *= 2
        self.GW = topo.maxg + 1
        self.indexed = False
        rows_c = n * topo.wc * 8
        rows_g = n * topo.wg * 8
        counts = ((n * sizeof(int32_t) + 7) // 8) * 8
        bits = self.nw * 8
        self.block_size = rows_c + rows_g + 2 * counts + 3 * bits + 2 * self.P * sizeof(Agg)
        self.block = _block_get(self.block_size)
        base = <char*>self.block
        self.fc_rows = <uint64_t*>base
        self.fg_rows = <uint64_t*>(base + rows_c)
        self.nfc = <int32_t*>(base + rows_c + rows_g)
        self.nfg = <int32_t*>(base + rows_c + rows_g + counts)
        self.up = <uint64_t*>(base + rows_c + rows_g + 2 * counts)
        self.excl = <uint64_t*>(base + rows_c + rows_g + 2 * counts + bits)
        self.avail = <uint64_t*>(base + rows_c + rows_g + 2 * counts + 2 * bits)
        self.tree = <Agg*>(base + rows_c + rows_g + 2 * counts + 3 * bits)
        memset(self.up, 0, 3 * bits)
        return 0

    cdef inline void _mark(self, Py_ssize_t pos) noexcept:
        """Keep ``pos``'s bit in ``avail`` in step with its free counts. A rank
        outside ``avail`` has no free core or GPU but has cores: its index
        values are known without reading it (see ``_leaf``)."""
        cdef uint64_t bit = (<uint64_t>1) << (pos & 63)
        if self.nfc[pos] > 0 or self.nfg[pos] > 0 or self.topo.nc[pos] == 0:
            self.avail[pos >> 6] |= bit
        else:
            self.avail[pos >> 6] &= ~bit

    cdef void _mark_all(self) noexcept:
        cdef Py_ssize_t i
        for i in range(self.topo.n):
            self._mark(i)

    def __dealloc__(self):
        if self.block != NULL:
            _block_put(self.block, self.block_size)

    cdef void _set_all_up(self, bint flag) noexcept:
        cdef Py_ssize_t k
        cdef Py_ssize_t n = self.topo.n
        for k in range(self.nw):
            self.up[k] = <uint64_t>-1 if flag else 0
        if flag and (n & 63):
            self.up[self.nw - 1] = ((<uint64_t>1) << (n & 63)) - 1
        self.indexed = False

    def copy(self):
        """An independent copy (shares the immutable topology)."""
        cdef RankPool c = RankPool()
        cdef Topology t = self.topo
        c._init(t)
        memcpy(c.fc_rows, self.fc_rows, t.n * t.wc * 8)
        memcpy(c.fg_rows, self.fg_rows, t.n * t.wg * 8)
        memcpy(c.nfc, self.nfc, t.n * sizeof(int32_t))
        memcpy(c.nfg, self.nfg, t.n * sizeof(int32_t))
        memcpy(c.up, self.up, self.nw * 8)
        memcpy(c.avail, self.avail, self.nw * 8)
        if self.indexed:
            memcpy(c.tree, self.tree, 2 * self.P * sizeof(Agg))
            c.indexed = True
        return c

    # -- index ------------------------------------------------------------

    cdef void _leaf(self, Py_ssize_t b) noexcept:
        cdef Agg* a = &self.tree[self.P + b]
        cdef Py_ssize_t i, lo = b * 64, hi = b * 64 + 64
        cdef uint64_t live
        cdef int32_t fc, fg
        cdef int64_t K
        _agg_clear(a)
        if b >= self.nw:
            return
        live = self.up[b] & ~self.excl[b]
        if live & ~self.avail[b]:
            # ranks with cores and nothing free: fc = fg = K = 0, not full
            a.maxfc = 0
            a.maxfg = 0
            a.maxK = 0
            a.minK = 0
            live &= self.avail[b]
        while live:
            i = lo + fp_ctz64(live)
            live &= live - 1
            fc = self.nfc[i]
            fg = self.nfg[i]
            K = fc * self.GW + fg
            if fc > a.maxfc: a.maxfc = fc
            if fg > a.maxfg: a.maxfg = fg
            if K > a.maxK: a.maxK = K
            if fc > 0 and K < a.minKpos: a.minKpos = K
            if K < a.minK: a.minK = K
            if fc == self.topo.nc[i]:
                if K > a.maxKfull: a.maxKfull = K
                if K < a.minKfull: a.minKfull = K

    cdef void _pull(self, Py_ssize_t v) noexcept:
        self.tree[v] = self.tree[2 * v]
        _agg_merge(&self.tree[v], &self.tree[2 * v + 1])

    cdef int _ensure_index(self) except -1:
        cdef Py_ssize_t b, v
        if self.indexed:
            return 0
        for b in range(self.P):
            self._leaf(b)
        v = self.P - 1
        while v >= 1:
            self._pull(v)
            v -= 1
        self.indexed = True
        return 0

    cdef void _refresh(self, Py_ssize_t pos) noexcept:
        """Recompute the index along the path of the block holding ``pos``."""
        cdef Py_ssize_t v
        if not self.indexed:
            return
        self._leaf(pos >> 6)
        v = (self.P + (pos >> 6)) >> 1
        while v >= 1:
            self._pull(v)
            v >>= 1

    cdef inline bint _fits(self, const Query* q, Py_ssize_t i) noexcept:
        cdef int32_t fc = self.nfc[i], fg = self.nfg[i]
        if not _bit(self.up, i) or _bit(self.excl, i):
            return False
        if q.mask != NULL and not _bit(q.mask, i):
            return False
        if q.full:
            return (fc == self.topo.nc[i] and fg >= q.g and fc >= q.c
                    and self.topo.ng[i] >= q.gsize)
        return fc >= q.c and fg >= q.g

    cdef inline bint _prune(self, const Query* q, Py_ssize_t v) noexcept:
        cdef const Agg* a = &self.tree[v]
        if q.mask_any != NULL and not q.mask_any[v]:
            return True
        if a.maxfg < q.g:
            return True
        if q.full:
            return a.maxKfull < 0 or a.maxKfull // self.GW < q.c
        return a.maxfc < q.c

    cdef Py_ssize_t _first(self, const Query* q, Py_ssize_t v, Py_ssize_t blo, Py_ssize_t bhi) noexcept:
        cdef Py_ssize_t i, r, mid, lo, hi
        if bhi * 64 <= q.start or self._prune(q, v):
            return -1
        if v >= self.P:
            lo = blo * 64
            if lo < q.start:
                lo = q.start
            hi = blo * 64 + 64
            if hi > self.topo.n:
                hi = self.topo.n
            for i in range(lo, hi):
                if self._fits(q, i):
                    return i
            return -1
        mid = (blo + bhi) >> 1
        r = self._first(q, 2 * v, blo, mid)
        if r >= 0:
            return r
        return self._first(q, 2 * v + 1, mid, bhi)

    cdef inline int64_t _bound(self, const Query* q, Py_ssize_t v) noexcept:
        cdef const Agg* a = &self.tree[v]
        cdef int64_t floor, lb
        if q.policy == WORST_FIT:
            return a.maxKfull if q.full else a.maxK
        floor = q.c * self.GW + q.g
        if q.full:
            lb = a.minKfull
        elif q.c >= 1:
            lb = a.minKpos
        else:
            lb = a.minK
        return lb if lb > floor else floor

    cdef void _best(self, const Query* q, Py_ssize_t v, Py_ssize_t blo, Py_ssize_t bhi,
                    int64_t* bestK, Py_ssize_t* best) noexcept:
        """Branch and bound for worst-fit (largest key) or best-fit (smallest key);
        ties go to the lowest position."""
        cdef Py_ssize_t i, mid, hi
        cdef int64_t bnd, K, bl, br
        cdef bint worst = q.policy == WORST_FIT, found
        if self._prune(q, v):
            return
        bnd = self._bound(q, v)
        if best[0] >= 0:
            if worst and (bnd < bestK[0] or (bnd == bestK[0] and blo * 64 > best[0])):
                return
            if not worst and (bnd > bestK[0] or (bnd == bestK[0] and blo * 64 > best[0])):
                return
        if v >= self.P:
            hi = blo * 64 + 64
            if hi > self.topo.n:
                hi = self.topo.n
            found = False
            for i in range(blo * 64, hi):
                if not self._fits(q, i):
                    continue
                found = True
                K = self.nfc[i] * self.GW + self.nfg[i]
                if best[0] < 0 or (worst and K > bestK[0]) or (not worst and K < bestK[0]):
                    bestK[0] = K
                    best[0] = i
            if not found and self.excl[blo]:
                self._refresh(blo * 64)  # tighten bounds a selection left stale
            return
        mid = (blo + bhi) >> 1
        bl = self._bound(q, 2 * v)
        br = self._bound(q, 2 * v + 1)
        if (worst and br > bl) or (not worst and br < bl):
            self._best(q, 2 * v + 1, mid, bhi, bestK, best)
            self._best(q, 2 * v, blo, mid, bestK, best)
        else:
            self._best(q, 2 * v, blo, mid, bestK, best)
            self._best(q, 2 * v + 1, mid, bhi, bestK, best)

    cdef Py_ssize_t _find(self, Query* q) noexcept:
        cdef int64_t bestK = 0
        cdef Py_ssize_t best = -1
        if self.topo.n == 0:
            return -1
        if q.policy == FIRST_FIT:
            return self._first(q, 1, 0, self.P)
        self._best(q, 1, 0, self.P, &bestK, &best)
        return best

    # -- allocation -------------------------------------------------------

    def allocate(self, int policy, int64_t nnodes, int64_t nnodes_max, int64_t nslots,
                 int64_t nslots_max, int64_t slot_size, int64_t gpu_per_slot,
                 bint exclusive, RankMask mask=None):
        """Place a request and mark it allocated.

        ``nnodes > 0`` asks for nodes (``nslots // nnodes`` slots each, up to
        ``nnodes_max``; -1 = unbounded), otherwise for ``nslots`` slots (up to
        ``nslots_max``). Only up ranks in ``mask`` (all when None) are used.
        Returns ``(allocation, slots)`` with the allocation as a
        :class:`Topology`, or None when the request does not fit now, in which
        case nothing has changed.
        """
        cdef Query q
        cdef Py_ssize_t npick = 0, cap = 16, i, k, pos
        cdef int64_t per_node = 0, taken = 0, fs, take
        cdef Pick* picks
        cdef Topology topo = self.topo
        if slot_size < 1 or gpu_per_slot < 0 or nslots < 0 or nnodes < 0:
            raise ValueError("slot size must be at least 1 and counts non-negative")
        if mask is not None and mask.n != topo.n:
            raise ValueError("mask belongs to another topology")
        self._ensure_index()
        memset(&q, 0, sizeof(Query))
        q.policy = policy
        if mask is not None:
            mask._summarize(self.P)
            q.mask = mask.w
            q.mask_any = mask.any_
        if nnodes > 0:
            per_node = nslots // nnodes
            if exclusive:
                q.full = True
                q.g = <int32_t>_clamp(gpu_per_slot)
                if policy != WORST_FIT:
                    q.c = <int32_t>_clamp(per_node * slot_size)
                    q.gsize = <int32_t>_clamp(per_node * gpu_per_slot)
            else:
                q.c = <int32_t>_clamp(max(per_node * slot_size, slot_size))
                q.g = <int32_t>_clamp(max(per_node * gpu_per_slot, gpu_per_slot))
        else:
            # Slot requests; an exclusive one (built by hand, no node count)
            # takes only ranks whose cores are all free, as flux-core does.
            q.full = exclusive
            q.c = <int32_t>_clamp(slot_size)
            q.g = <int32_t>_clamp(gpu_per_slot)
        picks = <Pick*>_calloc(cap, sizeof(Pick))
        try:
            while True:
                if nnodes > 0 and nnodes_max >= 0 and npick >= nnodes_max:
                    break
                if nnodes == 0 and nslots_max >= 0 and taken >= nslots_max:
                    break
                pos = self._find(&q)
                if pos < 0:
                    break
                if npick == cap:
                    cap *= 2
                    picks = <Pick*>_realloc(picks, cap * sizeof(Pick))
                picks[npick].pos = pos
                if nnodes > 0:
                    if exclusive:
                        picks[npick].ncores = -1
                        picks[npick].ngpus = -1
                    else:
                        picks[npick].ncores = <int32_t>(per_node * slot_size)
                        picks[npick].ngpus = <int32_t>(per_node * gpu_per_slot)
                else:
                    fs = self.nfc[pos] // slot_size
                    if gpu_per_slot > 0 and self.nfg[pos] // gpu_per_slot < fs:
                        fs = self.nfg[pos] // gpu_per_slot
                    take = fs
                    if nslots_max >= 0 and nslots_max - taken < take:
                        take = nslots_max - taken
                    picks[npick].ncores = <int32_t>(take * slot_size)
                    picks[npick].ngpus = <int32_t>(take * gpu_per_slot)
                    taken += take
                npick += 1
                if policy == FIRST_FIT:
                    q.start = pos + 1
                else:
                    # Exclude the pick from later searches. The index is not
                    # refreshed: its stale bounds still bound the remaining ranks,
                    # and _best refreshes a block it finds exhausted.
                    self.excl[pos >> 6] |= (<uint64_t>1) << (pos & 63)
            qsort(picks, npick, sizeof(Pick), _cmp_pick)
            if policy != FIRST_FIT:
                for k in range(npick):
                    pos = picks[k].pos
                    self.excl[pos >> 6] &= ~((<uint64_t>1) << (pos & 63))
            if (nnodes > 0 and npick < nnodes) or (nnodes == 0 and taken < nslots):
                for k in range(npick):
                    if k + 1 == npick or (picks[k + 1].pos >> 6) != (picks[k].pos >> 6):
                        self._refresh(picks[k].pos)
                return None
            result = self._commit(picks, npick)
        finally:
            free(picks)
        return result, (per_node * npick if nnodes > 0 else taken)

    cdef Topology _commit(self, Pick* picks, Py_ssize_t npick):
        """Take the picked cores and GPUs (lowest ids first) and return them."""
        cdef Topology src = self.topo
        cdef Topology t = Topology()
        cdef Py_ssize_t k, pos
        t._alloc(npick, src.wc, src.wg)
        for k in range(npick):
            pos = picks[k].pos
            t.ids[k] = src.ids[pos]
            self.nfc[pos] -= _take(&self.fc_rows[pos * src.wc], &t.crow[k * src.wc],
                                   src.wc, picks[k].ncores)
            self.nfg[pos] -= _take(&self.fg_rows[pos * src.wg], &t.grow[k * src.wg],
                                   src.wg, picks[k].ngpus)
            self._mark(pos)
            if k + 1 == npick or (picks[k + 1].pos >> 6) != (pos >> 6):
                self._refresh(pos)
        t._finish()
        t._hash_shapes()
        return t

    def release(self, Topology alloc):
        """Mark ``alloc``'s cores and GPUs free again on the ranks this pool has."""
        self._apply(alloc, True)

    def occupy(self, Topology alloc):
        """Mark ``alloc``'s cores and GPUs allocated on the ranks this pool has."""
        self._apply(alloc, False)

    cdef void _apply(self, Topology a, bint freeing) noexcept:
        cdef Topology t = self.topo
        cdef Py_ssize_t k, j, pos, pending = -1
        cdef uint64_t x
        for k in range(a.n):
            pos = t._index(a.ids[k])
            if pos < 0:
                continue
            if pending >= 0 and (pending >> 6) != (pos >> 6):
                self._refresh(pending)
            pending = pos
            for j in range(t.wc):
                x = a.crow[k * a.wc + j] if j < a.wc else 0
                if freeing:
                    self.fc_rows[pos * t.wc + j] |= x & t.crow[pos * t.wc + j]
                else:
                    self.fc_rows[pos * t.wc + j] &= ~x
            for j in range(t.wg):
                x = a.grow[k * a.wg + j] if j < a.wg else 0
                if freeing:
                    self.fg_rows[pos * t.wg + j] |= x & t.grow[pos * t.wg + j]
                else:
                    self.fg_rows[pos * t.wg + j] &= ~x
            self.nfc[pos] = _count(&self.fc_rows[pos * t.wc], t.wc)
            self.nfg[pos] = _count(&self.fg_rows[pos * t.wg], t.wg)
            self._mark(pos)
        if pending >= 0:
            self._refresh(pending)

    # -- up / down --------------------------------------------------------

    def set_up(self, IdRanges ranks, bint flag):
        """Mark ``ranks`` (all ranks when None) up or down; absent ranks are ignored."""
        cdef Topology t = self.topo
        cdef Py_ssize_t k, i
        if ranks is None:
            self._set_all_up(flag)
            return
        for k in range(ranks.nr):
            i = t._lower(ranks.lo[k])
            while i < t.n and t.ids[i] <= ranks.hi[k]:
                if flag:
                    self.up[i >> 6] |= (<uint64_t>1) << (i & 63)
                else:
                    self.up[i >> 6] &= ~((<uint64_t>1) << (i & 63))
                if (i & 63) == 63 or i + 1 == t.n or t.ids[i + 1] > ranks.hi[k]:
                    self._refresh(i)
                i += 1

    # -- views ------------------------------------------------------------

    def allocated(self):
        """The allocated cores and GPUs of each rank that has any, as a Topology."""
        return self._select_rows(0)

    def down(self):
        """Every down rank with all its cores and GPUs, as a Topology."""
        return self._select_rows(1)

    cdef Topology _select_rows(self, int which):
        # Counts come from the topology's and the free counts (free bits lie
        # within the topology's), not from counting bits again.
        cdef Topology t = self.topo
        cdef Topology r = Topology()
        cdef Py_ssize_t i, j, k = 0, count = 0, b
        cdef Py_ssize_t wc = t.wc, wg = t.wg
        cdef uint64_t down_bits
        if which == 0:
            for i in range(t.n):
                if self.nfc[i] != t.nc[i] or self.nfg[i] != t.ng[i]:
                    count += 1
        else:
            for b in range(self.nw):
                count += fp_popcount64(self.up[b])
            count = t.n - count
        r._alloc(count, wc, wg)
        if which == 1:
            # Down ranks: visit only the clear bits of the up words.
            for b in range(self.nw):
                down_bits = ~self.up[b]
                if b == self.nw - 1 and (t.n & 63):
                    down_bits &= ((<uint64_t>1) << (t.n & 63)) - 1
                while down_bits:
                    i = b * 64 + fp_ctz64(down_bits)
                    down_bits &= down_bits - 1
                    memcpy(&r.crow[k * wc], &t.crow[i * wc], wc * 8)
                    memcpy(&r.grow[k * wg], &t.grow[i * wg], wg * 8)
                    r.nc[k] = t.nc[i]
                    r.ng[k] = t.ng[i]
                    r.ids[k] = t.ids[i]
                    k += 1
            r._finish_counts()
            r._hash_shapes()
            return r
        for i in range(t.n):
            if which == 0:
                if self.nfc[i] == t.nc[i] and self.nfg[i] == t.ng[i]:
                    continue
                for j in range(wc):
                    r.crow[k * wc + j] = t.crow[i * wc + j] & ~self.fc_rows[i * wc + j]
                for j in range(wg):
                    r.grow[k * wg + j] = t.grow[i * wg + j] & ~self.fg_rows[i * wg + j]
                r.nc[k] = t.nc[i] - self.nfc[i]
                r.ng[k] = t.ng[i] - self.nfg[i]
            else:
                if _bit(self.up, i):
                    continue
                memcpy(&r.crow[k * wc], &t.crow[i * wc], wc * 8)
                memcpy(&r.grow[k * wg], &t.grow[i * wg], wg * 8)
                r.nc[k] = t.nc[i]
                r.ng[k] = t.ng[i]
            r.ids[k] = t.ids[i]
            k += 1
        r._finish_counts()
        r._hash_shapes()
        return r

    # -- shrink -----------------------------------------------------------

    def without(self, IdRanges ranks):
        """A new pool over ``topo.without(ranks)`` that keeps the remaining state."""
        cdef Topology old = self.topo
        cdef Topology t = old.without(ranks)
        cdef RankPool p = RankPool()
        cdef Py_ssize_t i, j = 0
        p._init(t)
        for i in range(old.n):
            if j < t.n and t.ids[j] == old.ids[i]:
                memcpy(&p.fc_rows[j * t.wc], &self.fc_rows[i * old.wc], old.wc * 8)
                memcpy(&p.fg_rows[j * t.wg], &self.fg_rows[i * old.wg], old.wg * 8)
                p.nfc[j] = self.nfc[i]
                p.nfg[j] = self.nfg[i]
                if _bit(self.up, i):
                    p.up[j >> 6] |= (<uint64_t>1) << (j & 63)
                j += 1
        p._mark_all()
        return p

    def is_free(self, Topology alloc):
        """True when every core and GPU of ``alloc`` is free here: its ranks
        are in this pool and none of its bits is allocated (strict mode's
        overlap check, SPEC §15; costs what ``alloc`` holds, not the pool)."""
        cdef Topology t = self.topo
        cdef Py_ssize_t k, j, pos
        cdef uint64_t x
        for k in range(alloc.n):
            pos = t._index(alloc.ids[k])
            if pos < 0:
                return False
            for j in range(alloc.wc):
                x = alloc.crow[k * alloc.wc + j]
                if x and (j >= t.wc or (x & ~self.fc_rows[pos * t.wc + j])):
                    return False
            for j in range(alloc.wg):
                x = alloc.grow[k * alloc.wg + j]
                if x and (j >= t.wg or (x & ~self.fg_rows[pos * t.wg + j])):
                    return False
        return True

    def candidates(self, bint exclusive, int32_t cores, int32_t gpus, RankMask mask=None):
        """The ranks flux-core's ``Rv1Pool.alloc`` hands to its subclass hooks
        (SPEC §16), as ``(rank, position, free_cores, free_gpus)`` with the ids
        as frozensets, in ascending rank order: every up rank with ``cores``
        free cores (``exclusive``: every core of the rank free) and, when
        ``gpus`` > 0, that many free GPUs, whose position is in ``mask``
        (None: every rank). Visits every rank: only pools with hooks call it."""
        cdef Topology t = self.topo
        cdef Py_ssize_t i
        cdef int32_t need
        cdef list out = []
        cdef dict whole = {}  # shape -> (cores, gpus) of an untouched rank, made once
        cdef object free_cores, free_gpus
        for i in range(t.n):
            if not _bit(self.up, i):
                continue
            if mask is not None and not _bit(mask.w, i):
                continue
            need = t.nc[i] if exclusive else cores
            if self.nfc[i] < need or (gpus > 0 and self.nfg[i] < gpus):
                continue
            if self.nfc[i] == t.nc[i] and self.nfg[i] == t.ng[i]:
                ids = whole.get(t.shape[i])
                if ids is None:
                    ids = whole[t.shape[i]] = t.ids_at(i)
                free_cores, free_gpus = ids
            else:
                free_cores = frozenset(_row_ids(&self.fc_rows[i * t.wc], t.wc))
                free_gpus = frozenset(_row_ids(&self.fg_rows[i * t.wg], t.wg))
            out.append((t.ids[i], i, free_cores, free_gpus))
        return out


# A few freed state blocks are kept for reuse: a backfill pass copies the pool,
# works on the copy and drops it, many times a second, and a recycled block is
# already mapped, where a fresh one page-faults on every copy (34 MiB at
# 1,048,576 ranks). Any block takes a free place; a large one also displaces
# the smallest kept, so the small blocks of allocation results, which come and
# go by the thousand, never crowd out the pool-sized one.
cdef enum:
    SPARE_BLOCKS = 4
cdef size_t SPARE_MIN_BYTES = 1024 * 1024
cdef size_t SPARE_MAX_BYTES = 64 * 1024 * 1024
cdef void* _spare[SPARE_BLOCKS]
cdef size_t _spare_size[SPARE_BLOCKS]


cdef void* _block_get(size_t size) except NULL:
    cdef int k
    cdef void* p
    for k in range(SPARE_BLOCKS):
        if _spare[k] != NULL and _spare_size[k] == size:
            p = _spare[k]
            _spare[k] = NULL
            return p
    p = malloc(size if size > 0 else 1)
    if p == NULL:
        raise MemoryError()
    return p


cdef void _block_put(void* p, size_t size) noexcept:
    cdef int k, smallest = -1
    if size <= SPARE_MAX_BYTES:
        for k in range(SPARE_BLOCKS):
            if _spare[k] == NULL:
                _spare[k] = p
                _spare_size[k] = size
                return
            if smallest < 0 or _spare_size[k] < _spare_size[smallest]:
                smallest = k
        if size >= SPARE_MIN_BYTES and _spare_size[smallest] < size:
            free(_spare[smallest])
            _spare[smallest] = p
            _spare_size[smallest] = size
            return
    free(p)


cdef inline int64_t _clamp(int64_t v) noexcept:
    if v > 2147483647:
        return 2147483647
    if v < 0:
        return 0
    return v


cdef inline int32_t _count(const uint64_t* row, Py_ssize_t nw) noexcept:
    cdef Py_ssize_t k
    cdef int32_t c = 0
    for k in range(nw):
        c += fp_popcount64(row[k])
    return c


cdef int32_t _take(uint64_t* free_row, uint64_t* out_row, Py_ssize_t nw, int32_t want) noexcept:
    """Move the ``want`` lowest set bits (all when -1) from free_row to out_row."""
    cdef Py_ssize_t k
    cdef int32_t got = 0
    cdef uint64_t x, low
    for k in range(nw):
        if want >= 0 and got >= want:
            break
        x = free_row[k]
        if want < 0:
            out_row[k] = x
            free_row[k] = 0
            got += fp_popcount64(x)
            continue
        while x and got < want:
            low = x & (~x + 1)
            out_row[k] |= low
            x &= x - 1
            got += 1
        free_row[k] &= ~out_row[k]
    return got
