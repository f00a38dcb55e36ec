"""Fuzzing the `.safetensors` and `.npz` loaders.

Base files: the example net A, a net of every FC class with a suppressed
bias and weightless layers, a convolutional net (padding, strides, a
bias-less convolution, max-pools), and a net with branches (a residual
sum, a depth concatenation, a normalisation), each as pyneural writes it
(structure metadata)
and, for A, in the bare torch layout (loaded with ``activations``), and A
with forty extra members (zero arrays that together claim far more than
the file holds, and members that are not .npy arrays); the npz ones stored
and deflated. They are corrupted: bit flips, truncation,
header-length edits, data offsets beyond the file, zip sizes that lie, dtype strings swapped,
shape numbers edited, NaN / Inf written into the data, the metadata JSON
and structure string mangled, and, for npz, the members rewritten (with
valid CRCs, so numpy's parser sees the edits) or the zip bytes themselves.

Whatever the file, ``pyneural.load`` returns a net whose weights are all
finite or raises a ValueError subclass; nothing else (no TypeError,
OSError, MemoryError, Rust panic...). 2,000 files, seeded: CI sees the same
ones every run. A sample is also loaded in a child interpreter, which must
exit normally (no segfault or abort from the native readers).
"""
import io as stdio
import json
import random
import re
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest

import pyneural as pn
from conftest import FIXTURES
from test_io import mixed_net, torch_layout

SAFETENSORS_FILES = 1000
NPZ_FILES = 1000
assert SAFETENSORS_FILES + NPZ_FILES == 2000
SUBPROCESS_SAMPLE = 150

A_ACTIVATIONS = "relu,relu,linear"
DTYPES = ["F16", "F64", "I32", "I64", "BF16", "BOOL", "U8", "F8_E4M3", "C64", "XX", ""]
NPY_DESCRS = ["'<f8'", "'<f2'", "'>f4'", "'|O'", "'<i4'", "'<c8'", "'|b1'", "'<U3'", "'V4'"]
SPECIALS = [b"\x00\x00\xc0\x7f", b"\x00\x00\x80\x7f", b"\x00\x00\x80\xff", b"\xff\xff\xff\xff"]


def _base_nets():
    import safetensors.numpy as stnp
    a = pn.load(FIXTURES / "example" / "A.nn")
    mixed, _ = mixed_net()
    own = {"A": a, "mixed": mixed, "conv": _conv_net(), "graph": _graph_net()}
    st = {name: stnp.save(net.to_state_dict(), metadata=_metadata(net))
          for name, net in own.items()}
    st["A_torch"] = stnp.save(torch_layout(a))
    return own, st


def _conv_net():
    from pyneural.rng import FPCRandom
    net = pn.TNNet(FPCRandom(2))
    for layer in (pn.TNNetInput(7, 5, 2), pn.TNNetConvolutionReLU(3, 3, 1, 1, 0),
                  pn.TNNetMaxPool(2), pn.TNNetConvolutionLinear(4, 2, 0, 1, 1),
                  pn.TNNetFullConnectLinear(3)):
        net.add_layer(layer)
    return net


def _graph_net():
    from pyneural.rng import FPCRandom
    net = pn.TNNet(FPCRandom(3))
    inp = net.add_layer(pn.TNNetInput(5, 4, 2))
    conv = net.add_layer(pn.TNNetConvolutionReLU(3, 3, 1, 1))
    short = net.add_layer_after(pn.TNNetPointwiseConvLinear(3, 1), inp)
    net.add_layer(pn.TNNetSum([conv, short]))
    net.add_layer(pn.TNNetChannelStdNormalization())
    net.add_layer(pn.TNNetDeepConcat([net.layers[-1], conv]))
    net.add_layer(pn.TNNetMaxPool(2))
    net.add_layer(pn.TNNetFullConnectLinear(3))
    return net


def _metadata(net):
    """What ``save`` writes into a .safetensors, through a real save."""
    import tempfile
    import os
    from safetensors import safe_open
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.safetensors")
        net.save(path)
        with safe_open(path, "np") as f:
            return f.metadata()


def _npz_members(net=None, state=None):
    """``{member name: .npy bytes}`` as ``save`` / ``np.savez`` write them."""
    buf = stdio.BytesIO()
    if net is not None:
        import tempfile
        import os
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.npz")
            net.save(path)
            buf.write(open(path, "rb").read())
    else:
        np.savez(buf, **state)
    with zipfile.ZipFile(stdio.BytesIO(buf.getvalue())) as z:
        return {name: z.read(name) for name in z.namelist()}


def _many_members(net):
    """A's members and forty more: zero arrays that compress a thousandfold
    (each alone within the per-file ratio, together far beyond it) and
    members that are not .npy arrays."""
    members = dict(_npz_members(net))
    zeros = _npz_members(state={"z": np.zeros((100, 100), np.float32)})["z.npy"]
    for i in range(30):
        members[f"pad{i}.npy"] = zeros
    for i in range(10):
        members[f"note{i}.txt"] = b"not an array " * 50
    return members


def _zip(members, compression):
    buf = stdio.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


# ---------------------------------------------------------- mutations --

def _bit_flips(data, r):
    data = bytearray(data)
    for _ in range(r.randint(1, 8)):
        i = r.randrange(len(data))
        data[i] ^= 1 << r.randrange(8)
    return bytes(data)


def _truncate(data, r):
    return data[:r.randrange(len(data))]


def _header_length(data, r):
    n = int.from_bytes(data[:8], "little")
    new = r.choice([0, 1, 7, n - 1, n + 1, n + r.randint(2, 1000), len(data), len(data) - 7,
                    2 ** 63, 2 ** 64 - 1, 100_000_001, r.randrange(2 ** 32)])
    return (new % 2 ** 64).to_bytes(8, "little") + data[8:]


def _edit_header(data, r, edit):
    n = int.from_bytes(data[:8], "little")
    header = edit(data[8:8 + n].decode("utf-8"), r).encode("utf-8")
    return len(header).to_bytes(8, "little") + header + data[8 + n:]


def _numbers_in(pattern, text, r, values):
    matches = list(re.finditer(pattern, text))
    m = r.choice(matches)
    nums = m.group(1).split(",")
    k = r.randrange(len(nums))
    nums[k] = str(r.choice(values(int(nums[k]))))
    return text[:m.start(1)] + ",".join(nums) + text[m.end(1):]


def _offsets(text, r):
    return _numbers_in(r'"data_offsets":\[([0-9,]+)\]', text, r,
                       lambda v: [v + 4, v - 4, v + 10 ** 6, 2 ** 40, 2 ** 64 - 1, 0, v * 2])


def _shape(text, r):
    return _numbers_in(r'"shape":\[([0-9,]+)\]', text, r,
                       lambda v: [0, 1, v + 1, v - 1, 2 ** 31, 2 ** 40, v * 2])


def _dtype(text, r):
    matches = list(re.finditer(r'"dtype":"([A-Z0-9_]*)"', text))
    m = r.choice(matches)
    return text[:m.start(1)] + r.choice(DTYPES) + text[m.end(1):]


def _metadata_text(text, r):
    """Mangle pyneural's metadata JSON (or add one to a torch file)."""
    header = json.loads(text)
    meta = header.setdefault("__metadata__", {})
    own = json.loads(meta.get("pyneural", '{"structure": "", "unused_bias": {}}'))
    structure = own["structure"]
    choice = r.randrange(6)
    if choice == 0 and structure:
        i = r.randrange(len(structure))
        own["structure"] = structure[:i] + r.choice("#):;9-0xZ") + structure[i + 1:]
    elif choice == 1:
        own["structure"] = re.sub(r"\d+", lambda m: str(r.choice([0, 1, 2 ** 31, 99999])),
                                  structure, count=r.randint(1, 4))
    elif choice == 2:
        own["unused_bias"] = r.choice([{"2": "zz"}, {"2": "00" * 20}, [], {"9": ""}, "x"])
    elif choice == 3:
        own = r.choice([[], "s", 3, None, {"structure": 5}])
    elif choice == 4:
        meta["pyneural"] = meta.get("pyneural", "{}")[: r.randrange(40)]
        return json.dumps(header, separators=(",", ":"))
    else:
        own["structure"] = structure.replace("ReLU", r.choice(["Sigmoid", "", "X", "ReLU#"]))
    meta["pyneural"] = json.dumps(own)
    return json.dumps(header, separators=(",", ":"))


def _nan_in_data(data, r):
    n = int.from_bytes(data[:8], "little")
    start = 8 + n
    slots = (len(data) - start) // 4
    data = bytearray(data)
    for _ in range(r.randint(1, 3)):
        i = start + 4 * r.randrange(slots)
        data[i:i + 4] = r.choice(SPECIALS)
    return bytes(data)


SAFETENSORS_MUTATIONS = [
    _bit_flips, _truncate, _header_length, _nan_in_data,
    lambda d, r: _edit_header(d, r, _offsets), lambda d, r: _edit_header(d, r, _shape),
    lambda d, r: _edit_header(d, r, _dtype), lambda d, r: _edit_header(d, r, _metadata_text),
]


def _npy_header_edit(npy, r):
    """Edit the dict of a .npy header (descr, shape, order), keeping its
    length field consistent so numpy parses the edit."""
    hlen = int.from_bytes(npy[8:10], "little")
    header = npy[10:10 + hlen].decode("latin1")
    choice = r.randrange(3)
    if choice == 0:
        header = re.sub(r"'descr': '[^']*'", "'descr': " + r.choice(NPY_DESCRS), header)
    elif choice == 1:
        header = re.sub(r"'shape': \([^)]*\)", "'shape': " + r.choice(
            ["()", "(0,)", "(2**40,)", "(99999999999,)", "(3, 4, 5)", "(-1,)", "(1,)",
             "(12, 3)", "(2, 2)"]), header)
    else:
        header = header.replace("'fortran_order': False", "'fortran_order': " + r.choice(
            ["True", "1", "None"]))
    header = header.encode("latin1")
    return npy[:8] + len(header).to_bytes(2, "little") + header + npy[10 + hlen:]


def _npy_nan(npy, r):
    hlen = int.from_bytes(npy[8:10], "little")
    start = 10 + hlen
    if len(npy) - start < 4:
        return npy
    npy = bytearray(npy)
    i = start + 4 * r.randrange((len(npy) - start) // 4)
    npy[i:i + 4] = r.choice(SPECIALS)
    return bytes(npy)


def _member_edit(members, r):
    members = dict(members)
    name = r.choice(sorted(members))
    choice = r.randrange(6)
    if choice == 0:
        members[name] = _npy_header_edit(members[name], r)
    elif choice == 1:
        members[name] = _npy_nan(members[name], r)
    elif choice == 2:
        members[name] = members[name][:r.randrange(len(members[name]))]
    elif choice == 3:
        del members[name]
    elif choice == 4:
        members[r.choice(["4.extra.npy", "x.npy", "__pyneural__.npy", "0.weight.npy"])] = \
            members[name]
    else:
        meta = json.dumps(r.choice([{"structure": 1}, {"structure": "bad"}, [],
                                    {"structure": "", "unused_bias": {}}]))
        members["__pyneural__.npy"] = _npy_bytes(np.frombuffer(meta.encode(), np.uint8))
    return members


def _zip_size_lie(data, r):
    """A member's sizes in the zip's central directory (or local header)
    set to something else: the bomb and bounds checks see it first."""
    central = [m.start() for m in re.finditer(b"PK\x01\x02", data)]
    local = [m.start() for m in re.finditer(b"PK\x03\x04", data)]
    at, fields = r.choice([(central, (20, 24)), (local, (18, 22))])
    i = r.choice(at) + r.choice(fields)
    value = r.choice([0, 1, 2 ** 32 - 1, 2 ** 31, r.randrange(2 ** 32),
                      int.from_bytes(data[i:i + 4], "little") * r.choice([2, 1000, 10 ** 5])])
    return data[:i] + (value % 2 ** 32).to_bytes(4, "little") + data[i + 4:]


def _npy_bytes(a):
    buf = stdio.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


# ---------------------------------------------------------------- run --

def _corpus():
    """``[(name, bytes, activations)]``: the 2,000 corrupted files."""
    own, st = _base_nets()
    r = random.Random(20260412)
    files = []
    st_bases = [(name, data, A_ACTIVATIONS if name == "A_torch" else None)
                for name, data in st.items()]
    for i in range(SAFETENSORS_FILES):
        name, data, acts = st_bases[i % len(st_bases)]
        mutate = SAFETENSORS_MUTATIONS[(i // len(st_bases)) % len(SAFETENSORS_MUTATIONS)]
        files.append((f"{i:04d}-{name}.safetensors", mutate(data, r), acts))
    npz_bases = [("A", _npz_members(own["A"]), None),
                 ("mixed", _npz_members(own["mixed"]), None),
                 ("conv", _npz_members(own["conv"]), None),
                 ("graph", _npz_members(own["graph"]), None),
                 ("A_torch", _npz_members(state=torch_layout(own["A"])), A_ACTIVATIONS),
                 ("many", _many_members(own["A"]), None)]
    for i in range(NPZ_FILES):
        name, members, acts = npz_bases[i % len(npz_bases)]
        compression = zipfile.ZIP_DEFLATED if i % 2 else zipfile.ZIP_STORED
        kind = (i // len(npz_bases)) % 3
        if kind == 0:
            data = _zip(_member_edit(members, r), compression)
        elif kind == 1:
            data = _bit_flips(_zip(members, compression), r)
        else:
            data = (_truncate if i % 4 == 0 else _zip_size_lie)(_zip(members, compression), r)
        files.append((f"{i:04d}-{name}.npz", data, acts))
    return files


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fuzz_io")
    files = []
    for name, data, acts in _corpus():
        path = directory / name
        path.write_bytes(data)
        files.append((path, acts))
    return files


def _load(path, acts):
    """``"loaded"`` / ``"refused"``; anything but a ValueError propagates."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # float16/64 conversions
        try:
            net = pn.load(path, acts)
        except ValueError:
            return "refused"
    for layer in net.trainable_layers():
        assert np.isfinite(layer.params.data).all(), path
    return "loaded"


def test_corrupted_files_are_value_errors_or_sound_nets(corpus):
    outcomes = {}
    for path, acts in corpus:
        try:
            outcome = _load(path, acts)
        except Exception as exc:        # noqa: BLE001 - the failure being tested for
            pytest.fail(f"{path.name}: {type(exc).__name__}: {exc}")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert sum(outcomes.values()) == 2000
    # The corpus exercises both sides: most corruptions are refused, and
    # some (a flipped bit in a weight, say) still load.
    assert outcomes["refused"] > 1000 and outcomes.get("loaded", 0) > 20, outcomes


def test_the_native_readers_do_not_crash_the_interpreter(corpus):
    sample = corpus[:: len(corpus) // SUBPROCESS_SAMPLE]
    script = (
        "import sys, warnings, faulthandler, pyneural as pn\n"
        "faulthandler.enable()\n"
        "warnings.simplefilter('ignore')\n"
        "for line in sys.stdin.read().splitlines():\n"
        "    path, acts = line.split('\\t')\n"
        "    try:\n"
        "        pn.load(path, acts or None)\n"
        "    except ValueError:\n"
        "        pass\n"
        "print('done')\n")
    lines = "\n".join(f"{path}\t{acts or ''}" for path, acts in sample)
    proc = subprocess.run([sys.executable, "-c", script], input=lines, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "done", proc.stderr[-2000:]
