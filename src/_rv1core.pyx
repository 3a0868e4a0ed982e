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
from libc.stdlib cimport qsort

# Every buffer of the core comes from Python's raw allocator (malloc-speed, no GIL
# needed), so tracemalloc sees the core's memory like any Python object's: the
# tests check "refused before anything large is allocated" by traced peak bytes.
cdef extern from "Python.h":
    void* malloc "PyMem_RawMalloc"(size_t size) nogil
    void* calloc "PyMem_RawCalloc"(size_t nelem, size_t elsize) nogil
    void* realloc "PyMem_RawRealloc"(void* p, size_t size) nogil
    void free "PyMem_RawFree"(void* p) nogil
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


# The core is one extension module split by concern into textual includes
# (as pyroaring does); each .pxi sees everything declared above and before it.
include "core_idset.pxi"
include "core_topology.pxi"
include "core_rankmask.pxi"
include "core_rankpool.pxi"
include "core_tree.pxi"
