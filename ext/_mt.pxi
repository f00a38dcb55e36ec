# MT19937, the generator behind Free Pascal's Random (docs/SEMANTICS.md,
# "The generator"). Textually included by _dense.pyx: the kernel program
# draws dropout masks from the same state that pyneural.rng draws from in
# Python, so a net trained in one kernel call consumes the stream exactly
# as per-sample Pascal code does.
#
# A state is a uint32 array of MT_WORDS: the 624 words of the generator,
# then the index of the next word to temper (624: twist first).

cdef extern from "stdint.h":
    ctypedef unsigned int uint32_t

cdef enum:
    MT_N = 624
    MT_M = 397
    MT_WORDS = 625


cdef void _mt_init(uint32_t* st, uint32_t seed) noexcept nogil:
    """The reference init_genrand."""
    cdef int i
    st[0] = seed
    for i in range(1, MT_N):
        st[i] = <uint32_t>(<uint32_t>1812433253 * (st[i - 1] ^ (st[i - 1] >> 30)) + <uint32_t>i)
    st[MT_N] = MT_N


cdef void _mt_twist(uint32_t* mt) noexcept nogil:
    cdef int k
    cdef uint32_t y
    for k in range(MT_N):
        y = (mt[k] & <uint32_t>0x80000000) | (mt[(k + 1) % MT_N] & <uint32_t>0x7fffffff)
        mt[k] = mt[(k + MT_M) % MT_N] ^ (y >> 1) ^ (<uint32_t>0x9908b0df if y & 1 else 0)


cdef inline uint32_t _mt_next(uint32_t* st) noexcept nogil:
    """The next 32-bit output (genrand_int32)."""
    cdef uint32_t y
    if st[MT_N] >= MT_N:
        _mt_twist(st)
        st[MT_N] = 0
    y = st[st[MT_N]]
    st[MT_N] += 1
    y ^= y >> 11
    y ^= (y << 7) & <uint32_t>0x9d2c5680
    y ^= (y << 15) & <uint32_t>0xefc60000
    y ^= y >> 18
    return y


cdef inline uint32_t _mt_below(uint32_t* st, uint32_t n) noexcept nogil:
    """Pascal ``Random(n)`` for 0 < n < 2**31: the high word of u32 * n."""
    return <uint32_t>((<unsigned long long>_mt_next(st) * n) >> 32)


cdef uint32_t* _mt_state(object state) except NULL:
    """The words of a state array (a contiguous uint32 array of MT_WORDS
    whose index word is in range), or ValueError."""
    cdef uint32_t[::1] words
    try:
        words = state
    except (TypeError, ValueError, BufferError):
        raise ValueError("a generator state is a contiguous uint32 array") from None
    if words.shape[0] != MT_WORDS or words[MT_N] > MT_N:
        raise ValueError(f"a generator state has {MT_WORDS} words and an index <= {MT_N}")
    return &words[0]


def mt_seed(state, seed):
    """Seed ``state`` (uint32 array of 625) as init_genrand(seed & 0xFFFFFFFF)."""
    _mt_init(_mt_state(state), <uint32_t>(int(seed) & 0xFFFFFFFF))


def mt_next(state):
    """The next raw 32-bit output of ``state``, as a Python int."""
    return _mt_next(_mt_state(state))


def mt_fill(state, out):
    """Fill the uint32 array ``out`` with the next ``len(out)`` outputs."""
    cdef uint32_t* st = _mt_state(state)
    cdef uint32_t[::1] o = out
    cdef Py_ssize_t i
    with nogil:
        for i in range(o.shape[0]):
            o[i] = _mt_next(st)
