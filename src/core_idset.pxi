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
        """Canonical form: runs of two or more as ``A-B``, joined by commas.

        Written into one buffer of the exact length (no string per run), so a
        set of half a million singletons encodes in a few milliseconds."""
        cdef Py_ssize_t k, size = 0
        cdef char* buf
        cdef char* p
        if self.nr == 0:
            return ""
        if self.nr == 1:  # the common small case: no buffer
            if self.lo[0] == self.hi[0]:
                return str(self.lo[0])
            return f"{self.lo[0]}-{self.hi[0]}"
        for k in range(self.nr):
            size += _digits(self.lo[k]) + 1
            if self.lo[k] != self.hi[k]:
                size += _digits(self.hi[k]) + 1
        buf = <char*>_calloc(size, 1)
        try:
            p = buf
            for k in range(self.nr):
                if k:
                    p[0] = 44  # ','
                    p += 1
                p = _put_id(p, self.lo[k])
                if self.lo[k] != self.hi[k]:
                    p[0] = 45  # '-'
                    p += 1
                    p = _put_id(p, self.hi[k])
            return buf[:p - buf].decode("ascii")
        finally:
            free(buf)

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


cdef inline Py_ssize_t _digits(int64_t v) noexcept nogil:
    """Decimal digits of a non-negative id (comparisons, no division)."""
    cdef Py_ssize_t n = 1
    cdef uint64_t u = <uint64_t>v
    while u >= 10000:
        u = u // 10000
        n += 4
    if u >= 1000:
        return n + 3
    if u >= 100:
        return n + 2
    if u >= 10:
        return n + 1
    return n


cdef inline char* _put_id(char* p, int64_t v) noexcept nogil:
    """Write a non-negative id in decimal at ``p``; returns the end."""
    cdef Py_ssize_t n = _digits(v), i
    cdef uint64_t u = <uint64_t>v
    for i in range(n - 1, -1, -1):
        p[i] = 48 + <char>(u % 10)
        u = u // 10
    return p + n


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


