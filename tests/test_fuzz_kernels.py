"""Fuzzing the compiled kernels through the public API.

Every TNNetVolume operation, TNNet.compute / backpropagate / compute_batch /
fit_samples and snapshot / restore / interpolate is fed operands of the
wrong shape (longer, shorter, 0-d, 2-D, empty), the wrong dtype (object,
str, bytes, complex, bool, int, datetime, big-endian), non-contiguous and
read-only arrays, lists (ragged ones too), odd scalars (complex, huge ints,
strings, None) and NaN / Inf values. Each call must either raise a clear
ValueError / TypeError and leave everything unchanged, or give exactly the
result of the same call on a clean float32 copy of the operand (computed in
numpy, or by a twin net). Complex operands must be a TypeError: converting
them would silently drop the imaginary part. A crash or an out-of-bounds
read would take the test process down, or show as a wrong result.
"""
import math
import random
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyneural as pn
from pyneural import ArchitectureError, TNNet, TNNetVolume
from pyneural.rng import FPCRandom

F32 = np.float32
ERRORS = (ValueError, TypeError)

# Overflow to Inf and NaN are results, not warnings: the library converts
# and computes them silently (the references below use np.errstate).
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def fuzz_settings(n):
    return settings(max_examples=n, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


SPECIAL = [0.0, -0.0, 1.0, -1.5, np.nan, np.inf, -np.inf, 1e-45, 3.4e38, -3.4e38, 1e30]


def _values(r, size):
    """float64 values, a third of them NaN / Inf / extreme."""
    return np.array([r.choice(SPECIAL) if r.random() < 0.3 else r.uniform(-3, 3)
                     for _ in range(size)], np.float64)


# ------------------------------------------------------------- operands --
#
# An operand is built from (kind, seed) for a target size n; ``reference``
# says what a correct implementation does with it: ("scalar", x),
# ("vector", float32 array), or ("error", exception types allowed).

class Reject(Exception):
    def __init__(self, *types):
        self.types = types or ERRORS


def ref_scalar(v):
    """The float32 value a real scalar stands for, or Reject."""
    if isinstance(v, np.ndarray):
        if v.ndim != 0:
            raise Reject()
        v = v[()]
    if isinstance(v, (complex, np.complexfloating)):
        raise Reject(TypeError)
    if isinstance(v, (bool, int, float, Fraction, np.bool_, np.integer, np.floating)):
        try:
            f = float(v)
        except OverflowError:
            raise Reject(ValueError) from None
        with np.errstate(over="ignore"):
            return F32(f)
    raise Reject()


def is_scalar_like(v):
    return (isinstance(v, (bool, int, float, complex, Fraction, Decimal, np.generic))
            or isinstance(v, np.ndarray) and v.ndim == 0)


def ref_vector(v, n=None):
    """The flat float32 array an array-like stands for, or Reject."""
    if isinstance(v, TNNetVolume):
        a = v.data.copy()
    else:
        try:
            arr = np.asarray(v)
        except (ValueError, TypeError):
            raise Reject() from None
        if arr.dtype.kind == "c":
            raise Reject(TypeError)
        if arr.dtype.kind not in "biuf":
            raise Reject()
        with np.errstate(over="ignore", invalid="ignore"):
            a = np.array(arr, dtype=F32).reshape(-1)
    if n is not None and a.size != n:
        raise Reject(ValueError)
    return a


OPERAND_KINDS = [
    "volume", "volume_short", "volume_long", "volume_empty",
    "f32", "f64", "f16", "i32", "i64", "u8", "bool", "c64", "c128", "object", "str", "bytes",
    "datetime", "big_endian", "non_contiguous", "transposed", "row2d", "col2d", "readonly",
    "zero_d", "zero_d_complex", "short", "long", "empty",
    "list", "list_ragged", "list_none", "list_complex", "list_str", "nested_list",
    "py_float", "py_int", "py_huge_int", "py_bool", "py_complex", "py_str", "py_none",
    "np_f32", "np_f64_huge", "np_i64", "np_bool", "np_c64", "np_str", "decimal", "fraction",
    "bytes_scalar", "dict", "generator",
]


def make_operand(kind, seed, n):
    r = random.Random(seed)
    vals = _values(r, n)
    if kind == "volume":
        return TNNetVolume(vals)
    if kind == "volume_short":
        return TNNetVolume(vals[:-1]) if n else TNNetVolume([1.0])
    if kind == "volume_long":
        return TNNetVolume(np.append(vals, 1.0))
    if kind == "volume_empty":
        return TNNetVolume(0)
    dtypes = {"f32": F32, "f64": np.float64, "f16": np.float16, "i32": np.int32,
              "i64": np.int64, "u8": np.uint8, "bool": np.bool_, "c64": np.complex64,
              "c128": np.complex128, "big_endian": ">f4"}
    with np.errstate(all="ignore"):
        if kind in dtypes:
            dt = np.dtype(dtypes[kind])
            if dt.kind in "iub":
                return np.nan_to_num(vals, posinf=7, neginf=-7).astype(dt)
            a = vals.astype(dt)
            if dt.kind == "c":
                a = a + 1j * (r.random() < 0.5)
            return a
        if kind == "object":
            return vals.astype(object)
        if kind == "str":
            return vals.astype(str)
        if kind == "bytes":
            return vals.astype("S8")
        if kind == "datetime":
            return np.arange(n).astype("datetime64[s]")
        if kind == "non_contiguous":
            return np.repeat(vals, 2).astype(F32)[::2]
        if kind == "transposed":
            return np.ascontiguousarray(vals.astype(F32).reshape(1, n)).T   # (n, 1), F-order
        if kind == "row2d":
            return vals.astype(F32).reshape(1, n)
        if kind == "col2d":
            return vals.astype(F32).reshape(n, 1)
        if kind == "readonly":
            a = vals.astype(F32)
            a.flags.writeable = False
            return a
        if kind == "zero_d":
            return np.array(vals[0] if n else 2.5)
        if kind == "zero_d_complex":
            return np.array(1 + 2j)
        if kind == "short":
            return vals[:-1].astype(F32) if n else np.ones(1, F32)
        if kind == "long":
            return np.append(vals, 0.5).astype(F32)
        if kind == "empty":
            return np.zeros(0, F32)
    if kind == "list":
        return [float(x) for x in vals]
    if kind == "list_ragged":
        return [[1.0, 2.0], [3.0]] + [float(x) for x in vals]
    if kind == "list_none":
        return [None] * n
    if kind == "list_complex":
        return [complex(x, 1) for x in vals]
    if kind == "list_str":
        return ["1.0"] * n
    if kind == "nested_list":
        return [[float(x)] for x in vals]
    scalars = {
        "py_float": float(r.choice(SPECIAL + [0.25, -3.0])), "py_int": r.randint(-5, 5),
        "py_huge_int": 10 ** 400, "py_bool": True, "py_complex": 1.5 + 0.5j, "py_str": "1.5",
        "py_none": None, "np_f32": F32(r.choice(SPECIAL + [0.75])),
        "np_f64_huge": np.float64(1e300), "np_i64": np.int64(-3), "np_bool": np.bool_(True),
        "np_c64": np.complex64(2 + 1j), "np_str": np.str_("2"), "decimal": Decimal("1.5"),
        "fraction": Fraction(1, 3), "bytes_scalar": b"1", "dict": {"a": 1},
        "generator": (x for x in vals),
    }
    return scalars[kind]


operand_kinds = st.sampled_from(OPERAND_KINDS)
seeds = st.integers(0, 2 ** 32 - 1)
sizes = st.integers(0, 5)


def self_volume(seed, n):
    return TNNetVolume(_values(random.Random(seed ^ 0x5EED), n))


def same(a, b):
    a, b = np.asarray(a, F32), np.asarray(b, F32)
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def check(call, expected_fn, state_before, state_after):
    """Run ``call``. With a reference result (``expected_fn`` returns it) the
    call must succeed and ``state_after()`` equal it; when the reference
    rejects the operand, the call must raise an allowed error and the state
    must be unchanged."""
    try:
        expected = expected_fn()
    except Reject as rej:
        with pytest.raises(rej.types):
            call()
        assert same(state_after(), state_before)
        return None
    result = call()
    assert same(state_after(), expected), (state_after(), expected)
    return result


# ---------------------------------------------------------- volume ops --

def _elementwise(op, s, v):
    with np.errstate(all="ignore"):
        return {"add": lambda: s + v, "sub": lambda: s - v, "mul": lambda: s * v}[op]()


@fuzz_settings(900)
@given(st.sampled_from(["add", "sub", "mul"]), operand_kinds, seeds, sizes)
def test_volume_add_sub_mul(op, kind, seed, n):
    vol = self_volume(seed, n)
    before = vol.data.copy()
    operand = make_operand(kind, seed, n)

    def expected():
        if is_scalar_like(operand):
            return _elementwise(op, before, ref_scalar(operand))
        return _elementwise(op, before, ref_vector(operand, n))

    check(lambda: getattr(vol, op)(operand), expected, before, lambda: vol.data)


@fuzz_settings(500)
@given(st.sampled_from(["fill", "divi"]), operand_kinds, seeds, sizes)
def test_volume_fill_and_divi_take_real_scalars_only(op, kind, seed, n):
    vol = self_volume(seed, n)
    before = vol.data.copy()
    operand = make_operand(kind, seed, n)

    def expected():
        if not is_scalar_like(operand):
            raise Reject()
        c = ref_scalar(operand)
        with np.errstate(all="ignore"):
            return np.full(n, c, F32) if op == "fill" else before / c

    check(lambda: getattr(vol, op)(operand), expected, before, lambda: vol.data)


@fuzz_settings(700)
@given(operand_kinds, operand_kinds, operand_kinds, seeds, sizes)
def test_volume_mul_add_and_mul_mul_add(k1, k2, k3, seed, n):
    vol = self_volume(seed, n)
    before = vol.data.copy()
    a, b, c = (make_operand(k, seed + i, n) for i, k in enumerate((k1, k2, k3)))

    def expected_mul_add():
        with np.errstate(all="ignore"):
            if is_scalar_like(a):
                factor = ref_scalar(a)
                return before + ref_vector(b, n) * factor
            va = ref_vector(a, n)
            return before + va * ref_vector(b, n)

    check(lambda: vol.mul_add(a, b), expected_mul_add, before, lambda: vol.data)

    vol = self_volume(seed, n)

    def expected_mul_mul_add():
        c1, c2 = (ref_scalar(x) if is_scalar_like(x) else _raise() for x in (a, b))
        with np.errstate(all="ignore"):
            return before * c1 + ref_vector(c, n) * c2

    check(lambda: vol.mul_mul_add(a, b, c), expected_mul_mul_add, before, lambda: vol.data)


def _raise():
    raise Reject()


@fuzz_settings(400)
@given(operand_kinds, seeds, sizes)
def test_volume_dot_product_and_copy_from(kind, seed, n):
    vol = self_volume(seed, n)
    before = vol.data.copy()
    operand = make_operand(kind, seed, n)

    def expected_dot():
        v = ref_vector(operand, n)
        acc = F32(0)
        with np.errstate(all="ignore"):
            for x, y in zip(before, v):
                acc = F32(acc + F32(x * y))
        return acc

    got = {}
    check(lambda: got.setdefault("dot", vol.dot_product(operand)),
          lambda: (expected_dot(), before)[1], before, lambda: vol.data)
    if "dot" in got:
        assert same(got["dot"], expected_dot())

    def expected_copy():
        if is_scalar_like(operand) or isinstance(operand, (str, bytes, dict)):
            raise Reject(TypeError)
        v = ref_vector(operand)
        return before if v.size == 0 else v

    check(lambda: vol.copy_from(operand), expected_copy, before, lambda: vol.data)


def _expf(x):
    """The kernels' exp: libm's double exp, rounded once to float32."""
    if math.isnan(x):
        return x
    try:
        return F32(math.exp(float(x)))
    except OverflowError:
        return F32(np.inf)


def _softmax_reference(s):
    """The original's SoftMax, element by element in float32 (docs/SEMANTICS.md, "Volumes")."""
    s = s.copy()
    if s.size == 0:
        return s, F32(0)
    with np.errstate(all="ignore"):
        m = s[0]
        for x in s[1:]:
            if x > m:
                m = x
        if m != 0:
            s = (s - m).astype(F32)
        mn = s[0]
        for x in s[1:]:
            if x < mn:
                mn = x
        total = F32(0)
        if mn != 0:
            if mn < -1000:
                s = (s * F32(F32(-1000.0) / mn)).astype(F32)
            for i in range(s.size):
                x = min(max(s[i], F32(-4000)), F32(4000)) if not math.isnan(s[i]) else s[i]
                s[i] = _expf(x)
                total = F32(total + s[i])
            if total > 0:
                s = (s / total).astype(F32)
    return s, total


@fuzz_settings(300)
@given(seeds, st.integers(0, 8))
def test_volume_softmax_with_nan_and_inf(seed, n):
    vol = self_volume(seed, n)
    expected, total = _softmax_reference(vol.data)
    got = vol.softmax()
    assert same(vol.data, expected) and same(got, total)


def test_read_only_volume_rejects_writes_and_keeps_its_data():
    a = np.arange(4, dtype=F32)
    a.flags.writeable = False
    v = TNNetVolume.wrap(a)
    for call in (lambda: v.add(1.0), lambda: v.fill(0), lambda: v.mul(a), lambda: v.softmax(),
                 lambda: v.mul_mul_add(1, 2, a), lambda: v.divi(2)):
        with pytest.raises(ValueError):
            call()
    assert v.data.tolist() == [0, 1, 2, 3]
    assert v.dot_product(a) == 14.0


@pytest.mark.parametrize("args", [(np.nan,), (np.inf,), (2.5,), (-1,), ("3",), (None,),
                                  (1 + 0j,), (2, -1, -1), (10 ** 12,), (10 ** 30, 0),
                                  (2 ** 31, 1, 1)])
def test_bad_volume_sizes_are_clear_errors(args):
    with pytest.raises(ERRORS):
        TNNetVolume(*args)
    with pytest.raises(ERRORS):
        TNNetVolume(2).resize(*args)
    if args[0] is not None:                       # wrap(data, None): size_x from data
        with pytest.raises(ERRORS):
            TNNetVolume.wrap(np.zeros(1, F32), *args)


@pytest.mark.parametrize("c", [1 + 2j, np.complex64(1 + 2j), np.array(1j), "1.5", None, [1.0]])
def test_complex_and_non_number_fill_values_are_type_errors(c):
    with pytest.raises(TypeError):
        TNNetVolume(3, 1, 1, c)
    net = TNNet(FPCRandom(1))
    net.add_layer(pn.TNNetInput(1))
    with pytest.raises(TypeError):
        net.set_learning_rate(c, 0.9)


# ------------------------------------------------------------- net ops --

def _twin_nets(seed):
    """Two identical small nets (and their text), every layer class in reach."""
    r = random.Random(seed)
    net = TNNet(FPCRandom(seed))
    net.add_layer(pn.TNNetInput(r.randint(1, 3), 1, r.randint(1, 2), r.randint(0, 1)))
    for _ in range(r.randint(1, 3)):
        cls = r.choice([pn.TNNetFullConnectReLU, pn.TNNetFullConnectLinear, pn.TNNetFullConnect,
                        pn.TNNetFullConnectSigmoid, pn.TNNetReLU, pn.TNNetSigmoid,
                        pn.TNNetHyperbolicTangent, pn.TNNetIdentity, pn.TNNetSoftMax])
        if cls.has_weights:
            net.add_layer(cls(r.randint(1, 4), 1, 1, r.randint(0, 1)))
        elif cls is pn.TNNetSoftMax:
            net.add_layer(cls(r.randint(0, 1)))
        else:
            net.add_layer(cls())
    net.set_learning_rate(0.01, r.choice([0.0, 0.9]))
    twin = TNNet.from_string(net.save_to_string(), FPCRandom(seed))
    twin.set_learning_rate(net.layers[1].learning_rate, net.layers[1].inertia)
    return net, twin


def _state(net):
    """Everything a kernel may write: parameters, momentum, layer outputs."""
    parts = [l.params.data for l in net.trainable_layers()]
    parts += [l.momentum.data for l in net.trainable_layers()]
    parts += [l.output.data for l in net.layers]
    return np.concatenate(parts) if parts else np.zeros(0, F32)


@fuzz_settings(500)
@given(operand_kinds, seeds)
def test_compute_and_backpropagate(kind, seed):
    net, twin = _twin_nets(seed)
    x = make_operand(kind, seed, net.input_size)
    state = _state(net)

    def expected_compute():
        twin.compute(ref_vector(x, net.input_size))
        return _state(twin)

    out = check(lambda: net.compute(x), expected_compute, state, lambda: _state(net))
    if out is not None:
        assert out is net.get_last_layer().output

    clean = np.linspace(-1, 1, net.input_size).astype(F32)
    net.compute(clean)
    twin.compute(clean)
    t = make_operand(kind, seed + 1, net.output_size)
    state = _state(net)

    def expected_backprop():
        twin.backpropagate(ref_vector(t, net.output_size))
        return _state(twin)

    check(lambda: net.backpropagate(t), expected_backprop, state, lambda: _state(net))


def _batch(kind, seed, rows, n):
    """A batch operand: the volume/array kinds above stacked to ``rows``."""
    r = random.Random(seed)
    base = np.array([_values(r, n) for _ in range(rows)], np.float64).reshape(rows, n)
    with np.errstate(all="ignore"):
        table = {
            "f32": lambda: base.astype(F32), "f64": lambda: base,
            "i64": lambda: np.nan_to_num(base, posinf=9, neginf=-9).astype(np.int64),
            "bool": lambda: base > 0, "c64": lambda: base.astype(np.complex64),
            "object": lambda: base.astype(object), "str": lambda: base.astype(str),
            "fortran": lambda: np.asfortranarray(base.astype(F32)),
            "non_contiguous": lambda: np.repeat(base.astype(F32), 2, axis=1)[:, ::2],
            "transposed": lambda: np.ascontiguousarray(base.T.astype(F32)).T,
            "wrong_width": lambda: np.zeros((rows, n + 1), F32),
            "three_d": lambda: base.astype(F32).reshape(rows, n, 1),
            "one_d": lambda: base[0].astype(F32) if rows else np.zeros(n, F32),
            "zero_d": lambda: np.array(1.5),
            "volume": lambda: TNNetVolume(base[0]) if rows else TNNetVolume(n),
            "list": lambda: base.tolist(),
            "ragged": lambda: [[1.0] * n, [1.0] * (n + 1)],
            "none": lambda: None,
            "empty_rows": lambda: np.zeros((0, n), F32),
        }
        return table[kind]()


BATCH_KINDS = ["f32", "f64", "i64", "bool", "c64", "object", "str", "fortran",
               "non_contiguous", "transposed", "wrong_width", "three_d", "one_d", "zero_d",
               "volume", "list", "ragged", "none", "empty_rows"]
batch_kinds = st.sampled_from(BATCH_KINDS)


def ref_rows(X, n):
    if isinstance(X, TNNetVolume):
        X = X.data
    v = ref_vector(X)                          # dtype rules
    a = np.asarray(X)
    if a.ndim == 0:
        a = a.reshape(1)                       # a 0-d array is one value, as in compute()
    if a.ndim == 1 and a.size == n:
        return v.reshape(1, n)
    if a.ndim != 2 or a.shape[1] != n:
        raise Reject(ValueError)
    return v.reshape(a.shape)


@fuzz_settings(400)
@given(batch_kinds, batch_kinds, seeds, st.integers(0, 3), st.booleans())
def test_compute_batch_and_fit_samples(kx, ky, seed, rows, exact):
    net, twin = _twin_nets(seed)
    n_in, n_out = net.input_size, net.output_size
    X = _batch(kx, seed, rows, n_in)
    state = _state(net)
    got = {}

    def expected_batch():
        R = ref_rows(X, n_in)
        return np.array([twin.compute(row).data.copy() for row in R]).reshape(len(R), n_out)

    try:
        expected = expected_batch()
    except Reject as rej:
        with pytest.raises(rej.types):
            net.compute_batch(X, exact=exact)
    else:
        got = net.compute_batch(X, exact=exact)
        assert got.dtype == F32 and got.shape == expected.shape
        if exact:
            assert same(got, expected)
        else:
            # GEMM sums in another order: compare rows of moderate inputs.
            ok = np.all(np.abs(ref_rows(X, n_in)) < 1e3, axis=1)
            assert np.allclose(got[ok], expected[ok], rtol=1e-4, atol=1e-5)
    if exact:
        assert same(_state(net)[: state.size - sum(l.output.size for l in net.layers)],
                    state[: state.size - sum(l.output.size for l in net.layers)])

    net, twin = _twin_nets(seed)
    Y = _batch(ky, seed + 1, rows, n_out)
    state = _state(net)

    def expected_fit():
        RX, RY = ref_rows(X, n_in), ref_rows(Y, n_out)
        if len(RX) != len(RY):
            raise Reject(ValueError)
        for x, y in zip(RX, RY):
            twin.compute(x)
            twin.backpropagate(y)
        return _state(twin)

    check(lambda: net.fit_samples(X, Y), expected_fit, state, lambda: _state(net))


SNAPSHOT_KINDS = ["own", "other_net", "other_arch", "truncated", "extended", "arrays_f64",
                  "lists", "none_item", "str_item", "complex_item", "wrong_size_item",
                  "nan_inf", "live", "volume", "string", "int", "dict", "generator",
                  "tuple", "object_item"]


def make_snapshot(kind, net, seed):
    r = random.Random(seed)
    own = net.snapshot()
    other = _twin_nets(seed)[0]
    for l in other.trainable_layers():
        l.params.data[:] = _values(r, l.params.size)
    if kind == "own":
        return own
    if kind == "other_net":
        return other.snapshot()
    if kind == "other_arch":
        return _twin_nets(seed + 17)[0].snapshot()
    if kind == "truncated":
        return own[:-1]
    if kind == "extended":
        return own + [TNNetVolume(0)]
    if kind == "arrays_f64":
        return [v.data.astype(np.float64) for v in other.snapshot()]
    if kind == "lists":
        return [v.data.tolist() for v in other.snapshot()]
    if kind == "nan_inf":
        return [TNNetVolume(_values(r, v.size)) for v in own]
    if kind == "live":
        return net.param_volumes()
    if kind == "tuple":
        return tuple(other.snapshot())
    if kind == "generator":
        return (v for v in other.snapshot())
    bad_items = {"none_item": None, "str_item": "abc",
                 "complex_item": np.zeros(own[-1].size, np.complex64),
                 "wrong_size_item": TNNetVolume(own[-1].size + 1), "object_item": object()}
    if kind in bad_items:
        return own[:-1] + [bad_items[kind]]
    return {"volume": own[-1], "string": "snapshot", "int": 3, "dict": {0: own[0]}}[kind]


def ref_snapshot(snap, net):
    if isinstance(snap, (str, bytes, TNNetVolume, int, dict)):
        raise Reject(TypeError) if not isinstance(snap, dict) else Reject()
    items = list(snap)
    vols = net.param_volumes()
    if len(items) != len(vols):
        raise Reject(ValueError)
    return [ref_vector(item, live.size) for item, live in zip(items, vols)]


snapshot_kinds = st.sampled_from(SNAPSHOT_KINDS)


@fuzz_settings(400)
@given(snapshot_kinds, snapshot_kinds, operand_kinds, seeds)
def test_snapshot_restore_interpolate(ka, kb, kalpha, seed):
    net, _ = _twin_nets(seed)
    params = lambda: np.concatenate([v.data for v in net.param_volumes()])
    before = params().copy()
    snap_a = make_snapshot(ka, net, seed)
    for_ref = make_snapshot(ka, net, seed)   # generators are consumed once

    def expected_restore():
        return np.concatenate(ref_snapshot(for_ref, net))

    check(lambda: net.restore(snap_a), expected_restore, before, params)

    net, _ = _twin_nets(seed)
    before = params().copy()
    snap_a, ref_a = make_snapshot(ka, net, seed), make_snapshot(ka, net, seed)
    snap_b, ref_b = make_snapshot(kb, net, seed + 1), make_snapshot(kb, net, seed + 1)
    alpha = make_operand(kalpha, seed, 1)
    if ka == "live":
        ref_a = [v.copy() for v in ref_a]
    if kb == "live":
        ref_b = [v.copy() for v in ref_b]

    def expected_interpolate():
        A, B = ref_snapshot(ref_a, net), ref_snapshot(ref_b, net)
        if not is_scalar_like(alpha):
            raise Reject()
        a32 = ref_scalar(alpha)
        keep = F32(1) - a32
        with np.errstate(all="ignore"):
            return np.concatenate([a * keep + b * a32 for a, b in zip(A, B)])

    check(lambda: net.interpolate(snap_a, snap_b, alpha), expected_interpolate, before, params)


def test_snapshot_of_the_wrong_architecture_names_the_layer():
    def build(n_in):
        net = TNNet(FPCRandom(1))
        net.add_layer(pn.TNNetInput(n_in))
        net.add_layer(pn.TNNetReLU())
        net.add_layer(pn.TNNetFullConnectReLU(3))
        return net
    net = build(2)
    before = net.save_data_to_string()
    with pytest.raises(ArchitectureError, match=r"layer 2 \(TNNetFullConnectReLU\): snapshot has 12"):
        net.restore(build(3).snapshot())
    with pytest.raises(ArchitectureError, match=r"layer 2 \(TNNetFullConnectReLU\): snap_b has 12"):
        net.interpolate(net.snapshot(), build(3).snapshot(), 0.5)
    assert net.save_data_to_string() == before


def test_empty_and_input_only_nets_are_value_errors():
    net = TNNet(FPCRandom(1))
    for call in (lambda: net.compute([1.0]), lambda: net.backpropagate([1.0]),
                 lambda: net.compute_batch([[1.0]]), lambda: net.fit_samples([[1.0]], [[1.0]])):
        with pytest.raises(ValueError):
            call()
    net.add_layer(pn.TNNetInput(1))
    for call in (lambda: net.compute([1.0]), lambda: net.backpropagate([1.0]),
                 lambda: net.compute_batch([[1.0]], exact=True),
                 lambda: net.fit_samples([[1.0]], [[1.0]])):
        with pytest.raises(ValueError):
            call()


def test_get_output_needs_a_volume():
    net, _ = _twin_nets(5)
    net.compute(np.zeros(net.input_size, F32))
    with pytest.raises(TypeError):
        net.get_output(np.zeros(net.output_size, F32))
    assert net.get_output(TNNetVolume()).size == net.output_size
