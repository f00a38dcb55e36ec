"""The FPC generator against rng_vectors.txt (written by the original)."""
import re

from pyneural import rng
from conftest import fixture_text

VECTORS = fixture_text("layers", "rng_vectors.txt")


def _expected(pattern):
    return [m for m in re.findall(pattern, VECTORS)]


def test_random_int_vectors_and_seed_readback():
    rng.set_seed(101)
    got = [rng.random_int(10000) for _ in range(5)]
    assert got == [int(v) for v in _expected(r"seed101 Random\(10000\)#\d = (\d+)")]
    assert rng.get_seed() == 4294967194 == int(_expected(r"RandSeed after draws = (\d+)")[0])


def test_random_float_vectors():
    rng.set_seed(101)
    got = [rng.random() for _ in range(5)]
    floats = [float(v) for v in _expected(r"seed101 Random#\d = ([0-9.]+)")]
    raws = [int(v) for v in _expected(r"x2\^32 = (\d+)")]
    assert got == floats
    assert [int(v * 2**32) for v in got] == raws


def test_lazy_reseed_rules():
    rng.set_seed(101)
    rng.random_int(10000)
    rng.set_seed(rng.get_seed())          # RandSeed := RandSeed: no reseed
    assert rng.random_int(10000) == 5525
    rng.set_seed(101)
    rng.random_int(10000)
    rng.set_seed(101)                     # the same seed again: reseed
    assert rng.random_int(10000) == 5163


def test_negative_and_zero_ranges():
    rng.set_seed(101)
    assert rng.random_int(-10) == -5
    rng.set_seed(101)
    assert rng.random_int(0) == 0
    assert rng.random_int(10000) == 5525  # Random(0) still consumed a draw


def test_first_u32_for_other_seeds():
    for seed, value in re.findall(r"seed(\d+) first u32 = (\d+)", VECTORS):
        g = rng.FPCRandom(int(seed))
        assert g.raw_u32() == int(value)


def test_independent_generators_and_bulk_draws_share_one_stream():
    a, b = rng.FPCRandom(5), rng.FPCRandom(5)
    singles = [a.random_int(10000) for _ in range(700)]
    bulk = list(b.random_ints(10000, 300)) + [b.random_int(10000) for _ in range(100)] \
        + list(b.random_ints(10000, 300))
    assert singles == bulk
    rng.set_seed(5)
    assert rng.random_int(10000) == singles[0]
