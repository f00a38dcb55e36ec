"""TNNetVolume against volume_ops.txt (the original's output) and numpy."""
import re

import numpy as np
import pytest

import pyneural as pn
from pyneural import rng
from conftest import fixture_text

OPS = fixture_text("layers", "volume_ops.txt")


def _line(prefix):
    for line in OPS.splitlines():
        if line.startswith(prefix):
            return line[len(prefix):]
    raise KeyError(prefix)


def _ab():
    rng.set_seed(5)
    a, b = pn.TNNetVolume(3, 2, 2), pn.TNNetVolume(3, 2, 2)
    for v in (a, b):
        for i in range(v.size):
            v.data[i] = rng.random()
    return a, b


def test_fill_layout_and_text():
    a, b = _ab()
    assert a.save_to_string() == _line("A.SaveToString=")
    assert b.save_to_string() == _line("B.SaveToString=")
    for x, y, d, i in re.findall(r"A\[x=(\d),y=(\d),d=(\d)\] = FData\[(\d+)\]", OPS):
        assert a[int(x), int(y), int(d)] == a.data[int(i)]
        assert np.asarray(a)[int(x), int(y), int(d)] == a.data[int(i)]


@pytest.mark.parametrize("prefix,op", [
    ("C:=A; C.MulMulAdd(0.3,0.7,B) [C=C*0.3+B*0.7]=", lambda c, a, b: c.mul_mul_add(0.3, 0.7, b)),
    ("C:=A; C.MulAdd(0.25,B) [C=C+B*0.25]=", lambda c, a, b: c.mul_add(0.25, b)),
    ("C:=A; C.MulAdd(A,B) [C=C+A*B]=", lambda c, a, b: c.mul_add(a, b)),
    ("C:=A; C.Add(B)=", lambda c, a, b: c.add(b)),
    ("C:=A; C.Sub(B)=", lambda c, a, b: c.sub(b)),
    ("C:=A; C.Mul(B) [elementwise]=", lambda c, a, b: c.mul(b)),
    ("C:=A; C.Mul(1.7)=", lambda c, a, b: c.mul(1.7)),
    ("C:=A; C.Divi(3)=", lambda c, a, b: c.divi(3)),
])
def test_arithmetic_matches_pascal(prefix, op):
    a, b = _ab()
    c = a.copy()
    op(c, a, b)
    assert c.save_to_string() == _line(prefix)


def test_dot_fill_copy_softmax():
    a, b = _ab()
    assert pn.float_to_str(a.dot_product(b)) == _line("A.DotProduct(B)=")
    c = a.copy()
    c.fill(0.1)
    assert c.save_to_string() == _line("C.Fill(0.1)=")
    d = pn.TNNetVolume()
    d.copy_from(a)
    assert d.save_to_string() == _line("D:=TNNetVolume.Create(); D.Copy(A) (resizes)=")
    c = a.copy()
    c.mul(4)
    total = c.softmax()
    m = re.search(r"S:=C.SoftMax\(\): S=(\S+) C=(\S+)", OPS)
    assert (pn.float_to_str(total), c.save_to_string()) == m.groups()
    c.fill(2)
    assert c.softmax() == 0 and not c.data.any()          # the all-equal quirk


def test_mul_mul_add_equals_numpy_float32():
    g = np.random.default_rng(0)
    a = g.standard_normal(1001).astype(np.float32)
    b = g.standard_normal(1001).astype(np.float32)
    v = pn.TNNetVolume(a)
    v.mul_mul_add(np.float32(0.3), np.float32(0.7), b)
    expected = a * np.float32(0.3) + b * np.float32(0.7)
    assert np.array_equal(v.data.view(np.uint32), expected.view(np.uint32))
    v = pn.TNNetVolume(a)
    v.add(b)
    assert np.array_equal(v.data, a + b)
    v = pn.TNNetVolume(a)
    v.mul(b)
    assert np.array_equal(v.data, a * b)
    acc = np.float32(0)
    for x, y in zip(a, b):
        acc = np.float32(acc + np.float32(x * y))
    assert pn.TNNetVolume(a).dot_product(b) == acc


def test_data_is_zero_copy_and_sizes_are_checked():
    v = pn.TNNetVolume(4, 1, 1)
    view = v.data
    v.add(np.ones(4, np.float32))
    assert view is v.data and view.tolist() == [1, 1, 1, 1]
    with pytest.raises(ValueError, match="expected 4"):
        v.add(np.ones(5, np.float32))
    with pytest.raises(TypeError):
        v.add(np.array(["a"] * 4))
    v.add(np.ones(8, np.float32)[::2])                     # non-contiguous: copied, fine
    assert v.data.tolist() == [2, 2, 2, 2]


def test_pairs_and_pair_list():
    pairs = pn.TNNetVolumePairList()
    pairs.add(pn.TNNetVolumePair(pn.TNNetVolume([1, 2]), pn.TNNetVolume([0, 1])))
    pairs.add(([3, 4], [1, 0]))
    assert pairs.count() == 2 and len(pairs) == 2
    X, Y = pairs.to_arrays()
    assert X.tolist() == [[1, 2], [3, 4]] and Y.tolist() == [[0, 1], [1, 0]]
    i, o = pairs[1]
    assert i.data.tolist() == [3, 4]


def test_array_protocol_copy_and_zero_d_sizes():
    v = pn.TNNetVolume([1, 2, 3])
    np.array(v, copy=True)[0] = 9                 # a copy: the volume is unchanged
    assert v.data[0] == 1
    np.asarray(v)[0, 0, 0] = 5                    # a view: the volume changes
    assert v.data[0] == 5
    assert pn.TNNetVolume(np.array(3)).size == 3  # a 0-d array is a size, as 3 is
    with pytest.raises(ValueError, match="integer"):
        pn.TNNetInput(2.5)
    with pytest.raises(ValueError, match="count"):
        rng.FPCRandom(1).raw_u32s(-1)
