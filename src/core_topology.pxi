# --------------------------------------------------------------------------
# Topology: ranks with core and GPU rows
# --------------------------------------------------------------------------

ctypedef struct RankEntry:
    int64_t rank
    Py_ssize_t src


cdef int _cmp_entry(const void* a, const void* b) noexcept nogil:
    cdef int64_t x = (<RankEntry*>a).rank, y = (<RankEntry*>b).rank
    return (x > y) - (x < y)


cdef list _row_ids(const uint64_t* row, Py_ssize_t nw):
    """The bit positions set in a row, ascending."""
    cdef list out = []
    cdef Py_ssize_t k
    cdef uint64_t x
    for k in range(nw):
        x = row[k]
        while x:
            out.append(k * 64 + fp_ctz64(x))
            x &= x - 1
    return out


cdef class Topology:
    """An immutable, ascending set of ranks, each with a core row and a GPU row.

    ``shape(i)`` groups ranks whose rows are identical, which is what R_lite
    entries and ``dumps()`` are made of.
    """

    cdef readonly Py_ssize_t n
    cdef readonly Py_ssize_t wc
    cdef readonly Py_ssize_t wg
    cdef int64_t* ids
    cdef uint64_t* crow
    cdef uint64_t* grow
    cdef int32_t* nc
    cdef int32_t* ng
    cdef int32_t* shape
    cdef Py_ssize_t nshapes
    cdef bint dense
    cdef int32_t maxc
    cdef int32_t maxg
    cdef public dict cache

    def __dealloc__(self):
        free(self.ids)
        free(self.crow)
        free(self.grow)
        free(self.nc)
        free(self.ng)
        free(self.shape)

    cdef int _alloc(self, Py_ssize_t n, Py_ssize_t wc, Py_ssize_t wg) except -1:
        self.n = n
        self.wc = wc
        self.wg = wg
        self.ids = <int64_t*>_calloc(n, sizeof(int64_t))
        self.crow = <uint64_t*>_calloc(n * wc, sizeof(uint64_t))
        self.grow = <uint64_t*>_calloc(n * wg, sizeof(uint64_t))
        self.nc = <int32_t*>_calloc(n, sizeof(int32_t))
        self.ng = <int32_t*>_calloc(n, sizeof(int32_t))
        self.shape = <int32_t*>_calloc(n, sizeof(int32_t))
        self.cache = {}
        return 0

    cdef void _finish(self) noexcept:
        """Derive counts, maxima and the dense flag from ids and rows."""
        cdef Py_ssize_t i, k
        cdef int32_t c, g
        for i in range(self.n):
            c = 0
            for k in range(self.wc):
                c += fp_popcount64(self.crow[i * self.wc + k])
            g = 0
            for k in range(self.wg):
                g += fp_popcount64(self.grow[i * self.wg + k])
            self.nc[i] = c
            self.ng[i] = g
        self._finish_counts()

    cdef void _finish_counts(self) noexcept:
        """Derive maxima and the dense flag from ids and the filled counts."""
        cdef Py_ssize_t i
        self.dense = self.n == 0 or (self.ids[0] == 0 and self.ids[self.n - 1] == self.n - 1)
        self.maxc = 0
        self.maxg = 0
        for i in range(self.n):
            if self.nc[i] > self.maxc:
                self.maxc = self.nc[i]
            if self.ng[i] > self.maxg:
                self.maxg = self.ng[i]

    cdef int _hash_shapes(self) except -1:
        """Number ranks by distinct (core row, GPU row), hashing the rows."""
        cdef Py_ssize_t i
        cdef dict seen = None
        cdef bytes key
        self.nshapes = 1 if self.n else 0
        for i in range(self.n):
            # Neighbouring ranks usually have the same rows: no key to build,
            # and no dictionary while every rank so far is like the first.
            if i == 0 or _same_words(&self.crow[i * self.wc], &self.crow[(i - 1) * self.wc],
                                     self.wc) and \
                    _same_words(&self.grow[i * self.wg], &self.grow[(i - 1) * self.wg],
                                self.wg):
                self.shape[i] = self.shape[i - 1] if i else 0
                continue
            if seen is None:
                seen = {(<char*>self.crow)[:self.wc * 8] + (<char*>self.grow)[:self.wg * 8]: 0}
            key = (<char*>&self.crow[i * self.wc])[:self.wc * 8] + \
                  (<char*>&self.grow[i * self.wg])[:self.wg * 8]
            sid = seen.get(key)
            if sid is None:
                sid = len(seen)
                seen[key] = sid
            self.shape[i] = sid
            self.nshapes = len(seen)
        return 0

    @staticmethod
    def from_entries(list entries):
        """Build from R_lite-like entries ``(ranks, cores, gpus)``.

        ``ranks`` is an :class:`IdRanges`; ``cores`` and ``gpus`` are idset text
        (or None) of node-local ids. Raises ``ValueError`` for a rank listed twice,
        an id beyond the bounds, or more than ``MAX_RANKS`` ranks.
        """
        cdef Py_ssize_t ne = len(entries), e, k, total = 0, i, n, pos
        cdef int64_t maxcore = -1, maxgpu = -1, v, last = -1
        cdef bint ordered = True
        cdef IdRanges rr, cr, gr
        ranks_l = []
        cores_l = []
        gpus_l = []
        for e in range(ne):
            ranks, cores, gpus = entries[e]
            rr = <IdRanges?>ranks
            cr = decode_idset(cores) if cores else IdRanges()
            gr = decode_idset(gpus) if gpus else IdRanges()
            if cr.nr and cr.hi[cr.nr - 1] > MAX_CORE_ID:
                raise ValueError(f"core id {cr.hi[cr.nr - 1]} exceeds the maximum core id {MAX_CORE_ID}")
            if gr.nr and gr.hi[gr.nr - 1] > MAX_GPU_ID:
                raise ValueError(f"GPU id {gr.hi[gr.nr - 1]} exceeds the maximum GPU id {MAX_GPU_ID}")
            if cr.nr and cr.hi[cr.nr - 1] > maxcore:
                maxcore = cr.hi[cr.nr - 1]
            if gr.nr and gr.hi[gr.nr - 1] > maxgpu:
                maxgpu = gr.hi[gr.nr - 1]
            total += rr.total
            if total > MAX_RANKS:
                raise ValueError(f"R has more than the maximum of {MAX_RANKS} ranks")
            if rr.nr:
                if rr.lo[0] <= last:
                    ordered = False
                if rr.hi[rr.nr - 1] > last:
                    last = rr.hi[rr.nr - 1]
            ranks_l.append(rr)
            cores_l.append(cr)
            gpus_l.append(gr)
        cdef Py_ssize_t wc = _nwords(maxcore + 1) or 1, wg = _nwords(maxgpu + 1) or 1
        if total * (wc + wg) * 8 > MAX_ROW_BYTES:
            raise ValueError(
                f"R of {total} ranks with core ids up to {maxcore} and GPU ids up to {maxgpu} "
                f"exceeds the maximum of {MAX_ROW_BYTES // (1024 * 1024)} MiB of core and GPU rows"
            )
        cdef Topology t = Topology()
        t._alloc(total, wc, wg)
        n = total
        # Each entry's core and GPU rows are built once, bit by bit, then
        # copied a word at a time to every rank of the entry.
        # One block: per entry, its core row, GPU row, shape id and two counts.
        cdef Py_ssize_t nent = ne or 1
        cdef uint64_t* tc = <uint64_t*>_calloc(nent * (wc + wg + 2), sizeof(uint64_t))
        cdef uint64_t* tg = tc + nent * wc
        cdef int32_t* sids = <int32_t*>(tg + nent * wg)
        cdef RankEntry* order = NULL
        cdef int32_t* ecount = sids + nent
        cdef int32_t sid_e, nc_e, ng_e
        cdef uint64_t* src_c
        cdef uint64_t* src_g
        try:
            # A shape id per distinct (cores, gpus) pair.
            seen = {}
            for e in range(ne):
                _fill_row(&tc[e * wc], <IdRanges>cores_l[e])
                _fill_row(&tg[e * wg], <IdRanges>gpus_l[e])
                ecount[2 * e] = _count(&tc[e * wc], wc)
                ecount[2 * e + 1] = _count(&tg[e * wg], wg)
                if ne == 1:
                    sids[e] = 0
                    seen[None] = 0
                    continue
                key = (cores_l[e].encode(), gpus_l[e].encode())
                sid = seen.get(key)
                if sid is None:
                    sid = len(seen)
                    seen[key] = sid
                sids[e] = sid
            t.nshapes = len(seen)
            if ordered:
                # Entries already list ranks in ascending order: write in place.
                pos = 0
                for e in range(ne):
                    rr = ranks_l[e]
                    sid_e = sids[e]
                    nc_e = ecount[2 * e]
                    ng_e = ecount[2 * e + 1]
                    src_c = &tc[e * wc]
                    src_g = &tg[e * wg]
                    for k in range(rr.nr):
                        v = rr.lo[k]
                        while v <= rr.hi[k]:
                            t.ids[pos] = v
                            t.shape[pos] = sid_e
                            t.nc[pos] = nc_e
                            t.ng[pos] = ng_e
                            memcpy(&t.crow[pos * wc], src_c, wc * 8)
                            memcpy(&t.grow[pos * wg], src_g, wg * 8)
                            pos += 1
                            v += 1
            else:
                order = <RankEntry*>_calloc(n, sizeof(RankEntry))
                pos = 0
                for e in range(ne):
                    rr = ranks_l[e]
                    for k in range(rr.nr):
                        v = rr.lo[k]
                        while v <= rr.hi[k]:
                            order[pos].rank = v
                            order[pos].src = e
                            pos += 1
                            v += 1
                qsort(order, n, sizeof(RankEntry), _cmp_entry)
                for i in range(1, n):
                    if order[i].rank == order[i - 1].rank:
                        raise ValueError(
                            f"rank {order[i].rank} appears in more than one R_lite entry"
                        )
                for i in range(n):
                    e = order[i].src
                    t.ids[i] = order[i].rank
                    t.shape[i] = sids[e]
                    t.nc[i] = ecount[2 * e]
                    t.ng[i] = ecount[2 * e + 1]
                    memcpy(&t.crow[i * wc], &tc[e * wc], wc * 8)
                    memcpy(&t.grow[i * wg], &tg[e * wg], wg * 8)
        finally:
            free(order)
            free(tc)
        t._finish_counts()
        return t

    def __len__(self):
        return self.n

    def ranks(self):
        """The rank ids as :class:`IdRanges`."""
        cdef IdRanges r = IdRanges()
        cdef Py_ssize_t i = 0, j
        if self.dense:
            if self.n:
                r._push(0, self.n - 1)
            return r
        while i < self.n:
            j = i
            while j + 1 < self.n and self.ids[j + 1] == self.ids[j] + 1:
                j += 1
            r._push(self.ids[i], self.ids[j])
            i = j + 1
        return r

    def rank_at(self, Py_ssize_t i):
        """The rank id at position ``i``."""
        if i < 0 or i >= self.n:
            raise IndexError(i)
        return self.ids[i]

    cdef Py_ssize_t _index(self, int64_t rank) noexcept:
        cdef Py_ssize_t a = 0, b = self.n - 1, m
        if self.dense:
            return rank if 0 <= rank < self.n else -1
        while a <= b:
            m = (a + b) >> 1
            if self.ids[m] < rank:
                a = m + 1
            elif self.ids[m] > rank:
                b = m - 1
            else:
                return m
        return -1

    cdef Py_ssize_t _lower(self, int64_t rank) noexcept:
        """Position of the first rank >= ``rank``."""
        cdef Py_ssize_t a = 0, b = self.n, m
        if self.dense:
            return 0 if rank < 0 else (rank if rank < self.n else self.n)
        while a < b:
            m = (a + b) >> 1
            if self.ids[m] < rank:
                a = m + 1
            else:
                b = m
        return a

    @property
    def ncores(self):
        """Total number of cores."""
        return _sum32(self.nc, self.n)

    @property
    def ngpus(self):
        """Total number of GPUs."""
        return _sum32(self.ng, self.n)

    def groups(self, bint display=False):
        """Ranks grouped by identical rows, ordered by each group's smallest rank.

        Returns a list of ``(ranks, cores, gpus)``: ``ranks`` an
        :class:`IdRanges`, ``cores`` and ``gpus`` idset text (canonical, or the
        bracketed display form when ``display`` is true).
        """
        cdef Py_ssize_t i, j, sid
        cdef list out = []
        cdef IdRanges r
        slot = {}
        i = 0
        while i < self.n:
            # A run of ranks of one shape (the common case: all of them) costs
            # one lookup; each id of the run is appended in C.
            sid = self.shape[i]
            j = i + 1
            while j < self.n and self.shape[j] == sid:
                j += 1
            g = slot.get(sid)
            if g is None:
                r = IdRanges()
                g = [r,
                     _encode_row(&self.crow[i * self.wc], self.wc, display),
                     _encode_row(&self.grow[i * self.wg], self.wg, display)]
                slot[sid] = g
                out.append(g)
            r = <IdRanges>g[0]
            if self.ids[j - 1] - self.ids[i] == j - 1 - i:
                r._push(self.ids[i], self.ids[j - 1])  # ids ascend: a dense run
            else:
                while i < j:
                    r._push(self.ids[i], self.ids[i])
                    i += 1
            i = j
        return [tuple(g) for g in out]

    def ranks_not_in(self, Topology other):
        """The ranks of this topology that ``other`` lacks, as :class:`IdRanges`."""
        cdef IdRanges r = IdRanges()
        cdef Py_ssize_t i
        for i in range(self.n):
            if other._index(self.ids[i]) < 0:
                r._push(self.ids[i], self.ids[i])
        return r

    def same_as(self, Topology other):
        """True when both hold the same ranks with the same cores and GPUs."""
        cdef Py_ssize_t i
        if self.n != other.n:
            return False
        for i in range(self.n):
            if self.ids[i] != other.ids[i]:
                return False
            if not _rows_equal(&self.crow[i * self.wc], self.wc, &other.crow[i * other.wc], other.wc):
                return False
            if not _rows_equal(&self.grow[i * self.wg], self.wg, &other.grow[i * other.wg], other.wg):
                return False
        return True

    def rows_match_on(self, Topology other):
        """True when every rank of ``other`` is here with exactly the same
        cores and GPUs (strict mode's partial-free check, SPEC §15)."""
        cdef Py_ssize_t k, pos
        for k in range(other.n):
            pos = self._index(other.ids[k])
            if pos < 0:
                return False
            if not _rows_equal(&self.crow[pos * self.wc], self.wc, &other.crow[k * other.wc], other.wc):
                return False
            if not _rows_equal(&self.grow[pos * self.wg], self.wg, &other.grow[k * other.wg], other.wg):
                return False
        return True

    def ids_at(self, Py_ssize_t pos):
        """``(cores, gpus)`` of the rank at ``pos``, as frozensets of ids."""
        if pos < 0 or pos >= self.n:
            raise IndexError(pos)
        return (frozenset(_row_ids(&self.crow[pos * self.wc], self.wc)),
                frozenset(_row_ids(&self.grow[pos * self.wg], self.wg)))

    def without(self, IdRanges ranks):
        """A new topology without ``ranks`` (absent ones are ignored)."""
        cdef Py_ssize_t i, j = 0, keep = 0
        cdef bint* drop = <bint*>_calloc(self.n, sizeof(bint))
        cdef Topology t
        try:
            keep = self.n - self._mark(ranks, drop)
            t = Topology()
            t._alloc(keep, self.wc, self.wg)
            for i in range(self.n):
                if not drop[i]:
                    t.ids[j] = self.ids[i]
                    t.shape[j] = self.shape[i]
                    memcpy(&t.crow[j * self.wc], &self.crow[i * self.wc], self.wc * 8)
                    memcpy(&t.grow[j * self.wg], &self.grow[i * self.wg], self.wg * 8)
                    j += 1
            t.nshapes = self.nshapes
            t._finish()
        finally:
            free(drop)
        return t

    cdef Py_ssize_t _mark(self, IdRanges ranks, bint* flags) noexcept:
        """Set flags[i] for every position whose rank is in ``ranks``; count them."""
        cdef Py_ssize_t k, i, hi, count = 0
        for k in range(ranks.nr):
            i = self._lower(ranks.lo[k])
            while i < self.n and self.ids[i] <= ranks.hi[k]:
                if not flags[i]:
                    flags[i] = True
                    count += 1
                i += 1
        return count

    # -- masks ------------------------------------------------------------

    def mask_all(self):
        """A mask of every position."""
        cdef RankMask m = RankMask._new(self.n)
        cdef Py_ssize_t i
        for i in range(self.n):
            m.w[i >> 6] |= (<uint64_t>1) << (i & 63)
        return m

    def mask_none(self):
        """An empty mask."""
        return RankMask._new(self.n)

    def mask_of_ranks(self, IdRanges ranks):
        """A mask of the positions whose rank is in ``ranks``."""
        cdef RankMask m = RankMask._new(self.n)
        cdef Py_ssize_t k, i
        for k in range(ranks.nr):
            i = self._lower(ranks.lo[k])
            while i < self.n and self.ids[i] <= ranks.hi[k]:
                m.w[i >> 6] |= (<uint64_t>1) << (i & 63)
                i += 1
        return m

    def shape_counts(self, RankMask mask=None):
        """Ranks per (core count, GPU count) pair, as ``{(ncores, ngpus): nranks}``.

        With ``mask``, only the positions set in it count. Costs one pass over
        the mask's words plus one step per rank set in it.
        """
        cdef dict out = {}
        cdef Py_ssize_t i, k
        cdef uint64_t x
        if mask is None:
            cached = self.cache.get("shape_counts")
            if cached is not None:
                return dict(cached)
            for i in range(self.n):
                key = (self.nc[i], self.ng[i])
                out[key] = out.get(key, 0) + 1
            self.cache["shape_counts"] = dict(out)
            return out
        cdef int64_t* counts = <int64_t*>_calloc(self.nshapes or 1, sizeof(int64_t))
        cdef int32_t* snc = <int32_t*>_calloc(self.nshapes or 1, sizeof(int32_t))
        cdef int32_t* sng = <int32_t*>_calloc(self.nshapes or 1, sizeof(int32_t))
        try:
            for k in range(mask.nw):
                x = mask.w[k]
                while x:
                    i = k * 64 + fp_ctz64(x)
                    x &= x - 1
                    counts[self.shape[i]] += 1
                    snc[self.shape[i]] = self.nc[i]
                    sng[self.shape[i]] = self.ng[i]
            for k in range(self.nshapes):
                if counts[k]:
                    key = (snc[k], sng[k])
                    out[key] = out.get(key, 0) + counts[k]
        finally:
            free(counts)
            free(snc)
            free(sng)
        return out


cdef int64_t _sum32(const int32_t* values, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i
    cdef int64_t s = 0
    for i in range(n):
        s += values[i]
    return s


cdef inline bint _same_words(const uint64_t* a, const uint64_t* b, Py_ssize_t nw) noexcept:
    cdef Py_ssize_t k
    for k in range(nw):
        if a[k] != b[k]:
            return False
    return True


cdef void _fill_row(uint64_t* row, IdRanges r) noexcept:
    cdef Py_ssize_t k
    cdef int64_t v
    for k in range(r.nr):
        v = r.lo[k]
        while v <= r.hi[k]:
            row[v >> 6] |= (<uint64_t>1) << (v & 63)
            v += 1


cdef bint _rows_equal(const uint64_t* a, Py_ssize_t na, const uint64_t* b, Py_ssize_t nb) noexcept:
    cdef Py_ssize_t k, m = na if na > nb else nb
    cdef uint64_t x, y
    for k in range(m):
        x = a[k] if k < na else 0
        y = b[k] if k < nb else 0
        if x != y:
            return False
    return True


