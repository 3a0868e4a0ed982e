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


