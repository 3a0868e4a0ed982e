# cython: language_level=3
"""fluxpool's compiled core: idsets, packed per-rank bitsets and placement.

This module knows rank ids, bit positions and counts, and nothing of JSON,
host names or Flux. The Python package above it (``fluxpool``) turns R and
jobspecs into the plain values these classes take.

- :class:`IdRanges`: an RFC 22 idset held as sorted, disjoint inclusive
  intervals, so memory never grows with the value of an id.
- :class:`Topology`: an immutable set of ranks, each with a packed row of core
  bits and a row of GPU bits. It describes a pool's hardware, an allocation
  (a job's record) and the views.
- :class:`RankMask`: a set of rank *positions* in one topology, used for
  properties and compiled constraints.
- :class:`RankPool`: the mutable state over a topology (free bits, up bits)
  plus an index over 64-rank blocks that finds the next candidate in policy
  order without visiting every rank.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t, INT64_MAX
from libc.stdlib cimport calloc, free, malloc, qsort, realloc
from libc.string cimport memcmp, memcpy, memset

cdef extern from "bitops.h":
    int fp_popcount64(uint64_t x) nogil
    int fp_ctz64(uint64_t x) nogil

cdef extern from *:
    """
    #ifndef FLUXPOOL_VERSION
    #define FLUXPOOL_VERSION "unknown"
    #endif
    """
    const char* FLUXPOOL_VERSION

__version__ = FLUXPOOL_VERSION.decode()

# Bounds (documented in the README, SPEC §13).
MAX_ID = 2147483647          # largest id in any idset (2^31 - 1)
MAX_CORE_ID = 16383          # largest core id within a rank
MAX_GPU_ID = 4095            # largest GPU id within a rank
MAX_RANKS = 4194304          # most ranks in one topology (2^22)
MAX_TEXT = 16 * 1024 * 1024  # longest idset text accepted, in characters
MAX_ROW_BYTES = 256 * 1024 * 1024  # core and GPU rows of one topology

FIRST_FIT = 0
WORST_FIT = 1
BEST_FIT = 2

cdef inline int _bit(const uint64_t* w, Py_ssize_t i) noexcept nogil:
    return (w[i >> 6] >> (i & 63)) & 1


cdef inline Py_ssize_t _nwords(Py_ssize_t nbits) noexcept nogil:
    return (nbits + 63) >> 6


cdef void* _calloc(Py_ssize_t count, Py_ssize_t size) except NULL:
    cdef void* p = calloc(count if count > 0 else 1, size)
    if p == NULL:
        raise MemoryError()
    return p


def _quote(text):
    """Quote user text for an error message, shortening very long input."""
    if len(text) > 200:
        return repr(text[:200] + "...")
    return repr(text)


# --------------------------------------------------------------------------
# IdRanges: RFC 22 idsets as intervals
# --------------------------------------------------------------------------

cdef class IdRanges:
    """An immutable set of non-negative ids held as sorted, disjoint intervals.

    Iterates in ascending order; ``str()`` is the canonical RFC 22 form.
    Build one with :func:`decode_idset` or :meth:`from_ints`.
    """

    cdef int64_t* lo
    cdef int64_t* hi
    cdef Py_ssize_t nr
    cdef Py_ssize_t cap
    cdef int64_t total

    def __dealloc__(self):
        free(self.lo)
        free(self.hi)

    cdef int _push(self, int64_t a, int64_t b) except -1:
        """Append [a, b]; a must lie above every id held. Adjacent runs merge."""
        cdef Py_ssize_t newcap
        if self.nr > 0 and a == self.hi[self.nr - 1] + 1:
            self.hi[self.nr - 1] = b
        else:
            if self.nr == self.cap:
                newcap = self.cap * 2 if self.cap else 4
                self.lo = <int64_t*>_realloc(self.lo, newcap * sizeof(int64_t))
                self.hi = <int64_t*>_realloc(self.hi, newcap * sizeof(int64_t))
                self.cap = newcap
            self.lo[self.nr] = a
            self.hi[self.nr] = b
            self.nr += 1
        self.total += b - a + 1
        return 0

    @staticmethod
    def from_ints(ids):
        """Build from any iterable of ints (sorted and deduplicated here)."""
        cdef IdRanges r = IdRanges()
        cdef int64_t v
        values = []
        for x in ids:
            if isinstance(x, bool) or not isinstance(x, int):
                try:
                    x = x.__index__()
                except AttributeError:
                    raise TypeError(f"idset members must be integers, got {x!r}") from None
            if x < 0 or x > MAX_ID:
                raise ValueError(f"idset member {x} is outside 0..{MAX_ID}")
            values.append(x)
        values.sort()
        for x in values:
            v = x
            if r.nr > 0 and v <= r.hi[r.nr - 1]:
                continue
            r._push(v, v)
        return r

    def _assign(self, IdRanges other):
        """Fill this empty set with ``other``'s ids (for subclass constructors)."""
        cdef Py_ssize_t k
        if self.nr:
            raise ValueError("IdRanges is immutable once filled")
        for k in range(other.nr):
            self._push(other.lo[k], other.hi[k])
        return self

    def __len__(self):
        return self.total

    def __bool__(self):
        return self.total > 0

    def __iter__(self):
        cdef Py_ssize_t k
        cdef int64_t v
        for k in range(self.nr):
            v = self.lo[k]
            while v <= self.hi[k]:
                yield v
                v += 1

    def __contains__(self, x):
        if isinstance(x, bool) or not isinstance(x, int):
            return False
        if x < 0 or x > MAX_ID:
            return False
        return self._find(x) >= 0

    cdef Py_ssize_t _find(self, int64_t v) noexcept:
        cdef Py_ssize_t a = 0, b = self.nr - 1, m
        while a <= b:
            m = (a + b) >> 1
            if v < self.lo[m]:
                b = m - 1
            elif v > self.hi[m]:
                a = m + 1
            else:
                return m
        return -1

    def __eq__(self, other):
        if not isinstance(other, IdRanges):
            return NotImplemented
        cdef IdRanges o = <IdRanges>other
        if o.nr != self.nr or o.total != self.total:
            return False
        cdef Py_ssize_t k
        for k in range(self.nr):
            if self.lo[k] != o.lo[k] or self.hi[k] != o.hi[k]:
                return False
        return True

    def __hash__(self):
        return hash(self.encode())

    def intervals(self):
        """The runs as a list of ``(first, last)`` tuples."""
        return [(self.lo[k], self.hi[k]) for k in range(self.nr)]

    @property
    def first(self):
        """The smallest id, or -1 when empty."""
        return self.lo[0] if self.nr else -1

    @property
    def last(self):
        """The largest id, or -1 when empty."""
        return self.hi[self.nr - 1] if self.nr else -1

    def encode(self):
        """Canonical form: runs of two or more as ``A-B``, joined by commas."""
        parts = []
        cdef Py_ssize_t k
        for k in range(self.nr):
            if self.lo[k] == self.hi[k]:
                parts.append(str(self.lo[k]))
            else:
                parts.append(f"{self.lo[k]}-{self.hi[k]}")
        return ",".join(parts)

    def display(self):
        """Bracketed display form: ``[...]`` around sets of more than one id."""
        s = self.encode()
        return f"[{s}]" if self.total > 1 else s

    def union(self, IdRanges other):
        """Ids in either set."""
        return _merge(self, other, 0)

    def intersection(self, IdRanges other):
        """Ids in both sets."""
        return _merge(self, other, 1)

    def difference(self, IdRanges other):
        """Ids in this set and not in ``other``."""
        return _merge(self, other, 2)

    def __str__(self):
        return self.encode()

    def __repr__(self):
        return f"IdRanges({self.encode()!r})"


cdef void* _realloc(void* p, size_t size) except NULL:
    cdef void* q = realloc(p, size)
    if q == NULL:
        raise MemoryError()
    return q


cdef IdRanges _merge(IdRanges a, IdRanges b, int op):
    """Union (0), intersection (1) or difference (2) by sweeping both interval lists."""
    cdef IdRanges r = IdRanges()
    cdef Py_ssize_t i = 0, j = 0
    cdef int64_t cur = 0, x, nxt
    cdef int ina, inb, want
    # Sweep over positions: at each step find the current membership in a and b
    # and the next position where either changes.
    while True:
        while i < a.nr and a.hi[i] < cur:
            i += 1
        while j < b.nr and b.hi[j] < cur:
            j += 1
        if i >= a.nr and (op != 0 or j >= b.nr):
            break
        if op == 1 and j >= b.nr:
            break
        ina = i < a.nr and a.lo[i] <= cur
        inb = j < b.nr and b.lo[j] <= cur
        # next change point after cur
        nxt = INT64_MAX
        if i < a.nr:
            nxt = a.hi[i] + 1 if ina else a.lo[i]
        if j < b.nr:
            x = b.hi[j] + 1 if inb else b.lo[j]
            if x < nxt:
                nxt = x
        if op == 0:
            want = ina or inb
        elif op == 1:
            want = ina and inb
        else:
            want = ina and not inb
        if want:
            r._push(cur, nxt - 1)
        if nxt == INT64_MAX:
            break
        cur = nxt
    return r


def decode_idset(text):
    """Decode RFC 22 idset text into :class:`IdRanges`.

    Accepts optional surrounding brackets, ``N`` and ``A-B`` elements (A < B)
    in strictly ascending, non-overlapping order. Raises ``ValueError`` quoting
    the text for anything else, including ids above ``MAX_ID``.
    """
    if not isinstance(text, str):
        raise TypeError(f"idset must be a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise ValueError(f"idset text of {len(text)} characters exceeds the maximum of {MAX_TEXT}")
    cdef bytes raw = text.encode("utf-8", "surrogatepass")
    cdef const unsigned char* p = raw
    cdef Py_ssize_t n = len(raw), i = 0, end = n, estart
    cdef int64_t a, b, prev = -1
    cdef IdRanges r = IdRanges()
    if n > 0 and p[0] == b'[':
        if n < 2 or p[n - 1] != b']':
            raise ValueError(f"invalid idset {_quote(text)}: unbalanced bracket")
        i = 1
        end = n - 1
    while i < end:
        estart = i
        a = _parse_id(p, &i, end, text, estart)
        if i < end and p[i] == b'-':
            i += 1
            b = _parse_id(p, &i, end, text, estart)
            if b <= a:
                raise ValueError(
                    f"invalid idset {_quote(text)}: range end before start in "
                    f"{_quote(raw[estart:i].decode('utf-8', 'replace'))}"
                    if b < a else
                    f"invalid idset {_quote(text)}: range {a}-{b} must have end above start"
                )
        else:
            b = a
        if a <= prev:
            raise ValueError(
                f"invalid idset {_quote(text)}: "
                f"{_quote(raw[estart:i].decode('utf-8', 'replace'))} is not above the ids before it"
            )
        r._push(a, b)
        prev = b
        if i == end:
            break
        if p[i] != b',':
            raise ValueError(
                f"invalid idset {_quote(text)}: unexpected character "
                f"{_quote(chr(p[i]) if p[i] < 128 else raw[i:i + 1].decode('utf-8', 'replace'))}"
            )
        i += 1
        if i == end:
            raise ValueError(f"invalid idset {_quote(text)}: empty element")
    return r


cdef int64_t _parse_id(const unsigned char* p, Py_ssize_t* pi, Py_ssize_t end,
                       text, Py_ssize_t estart) except -1:
    cdef Py_ssize_t i = pi[0], start = pi[0]
    cdef int64_t v = 0
    if i >= end or p[i] == b',':
        raise ValueError(f"invalid idset {_quote(text)}: empty element")
    if p[i] < b'0' or p[i] > b'9':
        if p[i] == b'[' or p[i] == b']':
            raise ValueError(f"invalid idset {_quote(text)}: misplaced bracket")
        raise ValueError(
            f"invalid idset {_quote(text)}: unexpected character "
            f"{_quote(chr(p[i]) if p[i] < 128 else '?')} where a number belongs"
        )
    while i < end and b'0' <= p[i] <= b'9':
        v = v * 10 + (p[i] - 48)
        if v > MAX_ID:
            raise ValueError(f"invalid idset {_quote(text)}: id exceeds maximum id {MAX_ID}")
        i += 1
    if p[start] == b'0' and i - start > 1:
        raise ValueError(f"invalid idset {_quote(text)}: leading zero in {_quote(text[start:i] if text.isascii() else 'number')}")
    pi[0] = i
    return v


cdef str _encode_row(const uint64_t* w, Py_ssize_t nw, bint display):
    """Canonical (or display) idset text of the bits set in a row of words."""
    parts = []
    cdef Py_ssize_t k, bit, count = 0
    cdef int64_t start = -1, prev = -2, v
    cdef uint64_t x
    for k in range(nw):
        x = w[k]
        while x:
            bit = fp_ctz64(x)
            x &= x - 1
            v = k * 64 + bit
            count += 1
            if v != prev + 1:
                if start >= 0:
                    parts.append(str(start) if start == prev else f"{start}-{prev}")
                start = v
            prev = v
    if start >= 0:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    s = ",".join(parts)
    if display and count > 1:
        return f"[{s}]"
    return s



# --------------------------------------------------------------------------
# Topology: ranks with core and GPU rows
# --------------------------------------------------------------------------

ctypedef struct RankEntry:
    int64_t rank
    Py_ssize_t src


cdef int _cmp_entry(const void* a, const void* b) noexcept nogil:
    cdef int64_t x = (<RankEntry*>a).rank, y = (<RankEntry*>b).rank
    return (x > y) - (x < y)


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
        self.dense = True
        self.maxc = 0
        self.maxg = 0
        for i in range(self.n):
            if self.ids[i] != i:
                self.dense = False
            c = 0
            for k in range(self.wc):
                c += fp_popcount64(self.crow[i * self.wc + k])
            g = 0
            for k in range(self.wg):
                g += fp_popcount64(self.grow[i * self.wg + k])
            self.nc[i] = c
            self.ng[i] = g
            if c > self.maxc:
                self.maxc = c
            if g > self.maxg:
                self.maxg = g

    cdef int _hash_shapes(self) except -1:
        """Number ranks by distinct (core row, GPU row), hashing the rows."""
        cdef Py_ssize_t i
        cdef dict seen = {}
        cdef bytes key
        if self.n == 1:
            self.shape[0] = 0
            self.nshapes = 1
            return 0
        for i in range(self.n):
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
        cdef RankEntry* order = <RankEntry*>_calloc(n, sizeof(RankEntry))
        try:
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
            if not ordered:
                qsort(order, n, sizeof(RankEntry), _cmp_entry)
                for i in range(1, n):
                    if order[i].rank == order[i - 1].rank:
                        raise ValueError(
                            f"rank {order[i].rank} appears in more than one R_lite entry"
                        )
            # Rows per entry, then a shape id per distinct (cores, gpus) pair.
            shape_of_entry = [0] if ne == 1 else []
            seen = {None: 0} if ne == 1 else {}
            for e in range(ne if ne > 1 else 0):
                key = (cores_l[e].encode(), gpus_l[e].encode())
                sid = seen.get(key)
                if sid is None:
                    sid = len(seen)
                    seen[key] = sid
                shape_of_entry.append(sid)
            t.nshapes = len(seen)
            for i in range(n):
                e = order[i].src
                t.ids[i] = order[i].rank
                t.shape[i] = shape_of_entry[e]
                _fill_row(&t.crow[i * t.wc], <IdRanges>cores_l[e])
                _fill_row(&t.grow[i * t.wg], <IdRanges>gpus_l[e])
        finally:
            free(order)
        t._finish()
        return t

    def __len__(self):
        return self.n

    def ranks(self):
        """The rank ids as :class:`IdRanges`."""
        cdef IdRanges r = IdRanges()
        cdef Py_ssize_t i
        for i in range(self.n):
            r._push(self.ids[i], self.ids[i])
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
        cdef Py_ssize_t i, sid
        cdef list out = []
        cdef IdRanges r
        slot = {}
        for i in range(self.n):
            sid = self.shape[i]
            g = slot.get(sid)
            if g is None:
                r = IdRanges()
                g = [r,
                     _encode_row(&self.crow[i * self.wc], self.wc, display),
                     _encode_row(&self.grow[i * self.wg], self.wg, display)]
                slot[sid] = g
                out.append(g)
            r = <IdRanges>g[0]
            r._push(self.ids[i], self.ids[i])
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


# --------------------------------------------------------------------------
# RankMask: positions in one topology
# --------------------------------------------------------------------------

cdef class RankMask:
    """A set of rank positions of one topology (a property or a constraint).

    Carries an OR-summary over 64-rank blocks laid out like the pool's index
    tree, so a search can skip whole subtrees with no allowed rank.
    """

    cdef uint64_t* w
    cdef readonly Py_ssize_t n
    cdef Py_ssize_t nw
    cdef uint8_t* any_
    cdef Py_ssize_t P

    def __dealloc__(self):
        free(self.w)
        free(self.any_)

    @staticmethod
    cdef RankMask _new(Py_ssize_t n):
        cdef RankMask m = RankMask()
        m.n = n
        m.nw = _nwords(n)
        m.w = <uint64_t*>_calloc(m.nw, sizeof(uint64_t))
        return m

    cdef void _summarize(self, Py_ssize_t P) noexcept:
        """(Re)build the per-tree-node 'any allowed' flags for a tree of P leaves."""
        cdef Py_ssize_t b, v
        if self.any_ != NULL and self.P == P:
            return
        free(self.any_)
        self.any_ = <uint8_t*>calloc(2 * P, 1)
        self.P = P
        if self.any_ == NULL:
            return
        for b in range(self.nw):
            self.any_[P + b] = self.w[b] != 0
        v = P - 1
        while v >= 1:
            self.any_[v] = self.any_[2 * v] | self.any_[2 * v + 1]
            v -= 1

    cdef RankMask _combine(self, RankMask o, int op):
        if o.n != self.n:
            raise ValueError("masks of different topologies")
        cdef RankMask m = RankMask._new(self.n)
        cdef Py_ssize_t k
        for k in range(self.nw):
            m.w[k] = (self.w[k] & o.w[k]) if op == 0 else (self.w[k] | o.w[k])
        return m

    def and_(self, RankMask other):
        """Positions in both masks."""
        return self._combine(other, 0)

    def or_(self, RankMask other):
        """Positions in either mask."""
        return self._combine(other, 1)

    def invert(self):
        """Positions of the topology not in this mask."""
        cdef RankMask m = RankMask._new(self.n)
        cdef Py_ssize_t k
        for k in range(self.nw):
            m.w[k] = ~self.w[k]
        if self.n & 63:
            m.w[self.nw - 1] &= ((<uint64_t>1) << (self.n & 63)) - 1
        return m


# --------------------------------------------------------------------------
# RankPool: free/up state and the placement index
# --------------------------------------------------------------------------

ctypedef struct Agg:
    int32_t maxfc       # most free cores on an eligible rank (-1: none)
    int32_t maxfg       # most free GPUs on an eligible rank
    int64_t maxK        # largest key fc*GW+fg (worst-fit bound)
    int64_t minKpos     # smallest key among ranks with fc > 0 (best-fit bound)
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
    a.maxKfull = -1
    a.minKfull = INT64_MAX


cdef inline void _agg_merge(Agg* a, const Agg* b) noexcept nogil:
    if b.maxfc > a.maxfc: a.maxfc = b.maxfc
    if b.maxfg > a.maxfg: a.maxfg = b.maxfg
    if b.maxK > a.maxK: a.maxK = b.maxK
    if b.minKpos < a.minKpos: a.minKpos = b.minKpos
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
        self.block_size = rows_c + rows_g + 2 * counts + 2 * bits + 2 * self.P * sizeof(Agg)
        self.block = _block_get(self.block_size)
        base = <char*>self.block
        self.fc_rows = <uint64_t*>base
        self.fg_rows = <uint64_t*>(base + rows_c)
        self.nfc = <int32_t*>(base + rows_c + rows_g)
        self.nfg = <int32_t*>(base + rows_c + rows_g + counts)
        self.up = <uint64_t*>(base + rows_c + rows_g + 2 * counts)
        self.excl = <uint64_t*>(base + rows_c + rows_g + 2 * counts + bits)
        self.tree = <Agg*>(base + rows_c + rows_g + 2 * counts + 2 * bits)
        memset(self.up, 0, 2 * bits)
        return 0

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
            lb = floor
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
        cdef Topology t = self.topo
        cdef Topology r = Topology()
        cdef Py_ssize_t i, j, k = 0, count = 0
        for i in range(t.n):
            if self._selected(which, i):
                count += 1
        r._alloc(count, t.wc, t.wg)
        for i in range(t.n):
            if not self._selected(which, i):
                continue
            r.ids[k] = t.ids[i]
            for j in range(t.wc):
                r.crow[k * t.wc + j] = t.crow[i * t.wc + j] & (
                    ~self.fc_rows[i * t.wc + j] if which == 0 else <uint64_t>-1)
            for j in range(t.wg):
                r.grow[k * t.wg + j] = t.grow[i * t.wg + j] & (
                    ~self.fg_rows[i * t.wg + j] if which == 0 else <uint64_t>-1)
            k += 1
        r._finish()
        r._hash_shapes()
        return r

    cdef bint _selected(self, int which, Py_ssize_t i) noexcept:
        if which == 0:
            return self.nfc[i] != self.topo.nc[i] or self.nfg[i] != self.topo.ng[i]
        return not _bit(self.up, i)

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
        return p


# A few freed state blocks are kept for reuse: a backfill pass copies the pool,
# works on the copy and drops it, many times a second, and a recycled block is
# already mapped, where a fresh one page-faults on every copy.
cdef enum:
    SPARE_BLOCKS = 4
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
    cdef int k
    if size <= SPARE_MAX_BYTES:
        for k in range(SPARE_BLOCKS):
            if _spare[k] == NULL:
                _spare[k] = p
                _spare_size[k] = size
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
