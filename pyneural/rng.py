"""Free Pascal 3.2.2's `Random` / `RandSeed`, draw for draw.

The RTL generator is MT19937 seeded with the reference ``init_genrand`` (the
same seeding as numpy's legacy ``RandomState``), with one twist: reseeding
is lazy. Assigning ``RandSeed`` draws nothing; the next draw notices that the
seed changed, reseeds, and stores ``not seed`` back into ``RandSeed``. So
assigning the same seed again restarts the stream, while
``RandSeed := RandSeed`` does not.

The module keeps one global generator, as Pascal does (``set_seed``,
``random``, ``random_int``, ``get_seed``); ``FPCRandom`` instances are
independent generators with the same behaviour. The generator's state is a
uint32 array that the compiled kernels draw from too (dropout masks during
``compute`` and ``fit_samples``), so Python and the kernels share one stream.
"""
import numpy as np

from ._kernels import dense as _kernel

__all__ = ["FPCRandom", "set_seed", "get_seed", "random", "random_int", "default"]

_MASK32 = 0xFFFFFFFF
_STATE_WORDS = 625          # MT19937's 624 words and the index of the next one


class FPCRandom:
    """One FPC-compatible generator (its own ``RandSeed`` and state).

    Parameters
    ----------
    seed : int
        The initial ``RandSeed`` (kept modulo 2**32). Nothing is drawn until
        the first draw, which seeds the generator from it.
    """

    def __init__(self, seed=0):
        self._seed = int(seed) & _MASK32
        self._old_seed = 0
        self._fresh = True
        self._state = np.zeros(_STATE_WORDS, dtype=np.uint32)

    @property
    def seed(self):
        """The Pascal ``RandSeed`` as it reads now (``not seed`` after a draw)."""
        return self._seed

    @seed.setter
    def seed(self, value):
        """Assign ``RandSeed`` (``int(value)`` modulo 2**32); the next draw reseeds
        when it differs from the value last stored."""
        self._seed = int(value) & _MASK32

    def set_seed(self, value):
        """Pascal ``RandSeed := value``; takes effect at the next draw.

        Parameters
        ----------
        value : int
            The new seed; ``int(value)`` modulo 2**32 (a float is truncated).

        Raises
        ------
        TypeError, ValueError
            ``int()`` does not accept ``value``.
        """
        self.seed = value

    def _reseed_if_needed(self):
        if self._fresh or self._seed != self._old_seed:
            _kernel.mt_seed(self._state, self._seed)
            self._seed = ~self._seed & _MASK32
            self._old_seed = self._seed
            self._fresh = False

    def kernel_state(self):
        """The state array, reseeded first if ``RandSeed`` changed: what a
        kernel that draws (dropout) advances in place."""
        self._reseed_if_needed()
        return self._state

    def _u32(self):
        self._reseed_if_needed()
        return _kernel.mt_next(self._state)

    def raw_u32s(self, count):
        """``count`` successive raw 32-bit outputs as a uint64 array.

        Parameters
        ----------
        count : int
            Number of draws, >= 0 (a negative count is a ValueError and
            draws nothing).

        Returns
        -------
        ndarray of uint64, shape ``(count,)``
            The same values as ``count`` calls of ``raw_u32``.
        """
        count = int(count)
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        return self.draw_u32(count).astype(np.uint64)

    def draw_u32(self, count):
        """``count`` successive raw 32-bit outputs as a uint32 array (as
        ``raw_u32s``, in half the memory). ``count`` >= 0."""
        out = np.empty(int(count), dtype=np.uint32)
        _kernel.mt_fill(self.kernel_state(), out)
        return out

    def raw_u32(self):
        """One raw 32-bit output of the generator, an int in [0, 2**32)."""
        return self._u32()

    def random(self):
        """Pascal ``Random``: a float in [0, 1) with 32-bit resolution."""
        return self._u32() / 4294967296.0

    def random_int(self, n):
        """Pascal ``Random(n)`` for a longint: ``floor(u32 * n / 2**32)``.

        Negative ``n`` is first moved one towards zero, as the RTL does, so
        ``random_int(-10)`` lies in (-10, 0]. ``random_int(0)`` is 0 and still
        consumes a draw.

        Parameters
        ----------
        n : int
            The bound, converted with ``int()``.

        Returns
        -------
        int
            In [0, n) for positive ``n``.

        Raises
        ------
        TypeError, ValueError
            ``int()`` does not accept ``n``.
        """
        n = int(n)
        if n < 0:
            n += 1
        return (self._u32() * n) >> 32

    def random_ints(self, n, count):
        """``count`` successive ``Random(n)`` draws (0 < n < 2**31) as int64.

        The bulk form of ``random_int`` for the positive ``n`` the weight
        initialisation uses; ``n`` is not checked (a negative one raises
        OverflowError, one of 2**32 or more gives wrong values).

        Parameters
        ----------
        n : int
            The bound, 0 < n < 2**31.
        count : int
            Number of draws, >= 0.

        Returns
        -------
        ndarray of int64, shape ``(count,)``
            Values in [0, n), equal to ``count`` calls of ``random_int(n)``.
        """
        return ((self.raw_u32s(count) * np.uint64(n)) >> np.uint64(32)).astype(np.int64)


default = FPCRandom()


def set_seed(value):
    """Pascal ``RandSeed := value`` on the global generator.

    Parameters
    ----------
    value : int
        The new seed (see ``FPCRandom.set_seed``); it takes effect at the
        next draw.

    Raises
    ------
    TypeError, ValueError
        ``int()`` does not accept ``value``.
    """
    default.set_seed(value)


def get_seed():
    """Pascal ``RandSeed`` (read) on the global generator: ``not seed``
    after a draw, as the RTL stores it."""
    return default.seed


def random():
    """Pascal ``Random`` on the global generator: a float in [0, 1)."""
    return default.random()


def random_int(n):
    """Pascal ``Random(n)`` on the global generator.

    Parameters
    ----------
    n : int
        The bound (see ``FPCRandom.random_int`` for negative and zero ``n``).

    Returns
    -------
    int

    Raises
    ------
    TypeError, ValueError
        ``int()`` does not accept ``n``.
    """
    return default.random_int(n)
