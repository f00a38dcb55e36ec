"""Memory bounded by what a file declares: every buffer a net needs to
compute and train, its kernels' scratch included, is counted before
anything is allocated, and a text or file asking for more than its budget
is refused with the layer named (docs/SEMANTICS.md, "pyneural's own").

The hostile files are loaded, computed and trained in a child process
whose peak resident memory is measured: each used gigabytes before (the
first compute or backpropagate filled a padded buffer or a window matrix
the loader never counted); now each is refused at load, under
``PEAK_MB``. The same child measures nets built in code whose scratch is
large, to show the count is what the kernels really allocate."""
import json
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pyneural as pn
from pyneural import net as netmod
from pyneural.rng import FPCRandom

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc/self/status")

PEAK_MB = 300
ROOT = pathlib.Path(__file__).resolve().parents[1]      # the children import this pyneural

# The start of every child: its resident memory now (VmRSS) and at its
# peak (VmHWM), in MiB.
PRELUDE = """
import json, os, sys
import numpy as np
import pyneural as pn
from pyneural.rng import FPCRandom
def status(key):
    with open("/proc/self/status") as f:
        line = next(l for l in f if l.startswith(key + ":"))
    return int(line.split()[1]) / 1024
"""

# Loads the file given, then computes and trains one sample if it loaded.
LOAD = """
try:
    net = pn.load(sys.argv[1])
except ValueError as exc:
    outcome = "refused: " + str(exc)
else:
    net.compute(np.ones(net.input_size, np.float32))
    net.backpropagate(np.full(net.output_size, 3, np.float32))      # an error to send back
    outcome = "loaded"
print(json.dumps({"outcome": outcome, "peak_mb": status("VmHWM")}))
"""


def _child(code, *args):
    """Run ``PRELUDE + code`` with this checkout's pyneural; the JSON it printed last."""
    done = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _struct(*layers):
    """A structure string of a chain of ``(class, structure integers)``."""
    return "#".join(f"{i - 1}){name}:{';'.join(map(str, list(ints) + [0] * (8 - len(ints))))}"
                    "::0;0;0;0;0;0;0;0" for i, (name, ints) in enumerate(layers))


def _pool_text(padding):
    """The issue's file: a 1x1x1 input, then a max-pool of padding
    ``padding`` and the largest stride (one output)."""
    return (_struct(("TNNetInput", (1, 1, 1)), ("TNNetMaxPool", (1, 2147483647, padding)))
            + "\n!\n")


def _big_kernel_file(path):
    """A valid .nn of a 100x100 kernel on a 400x400 input (0.5 a weight,
    so about 50 kB): its window matrix is 3.6 GB."""
    net = pn.TNNet(FPCRandom(1))
    net.add_layer(pn.TNNetInput(400, 400, 1))
    net.add_layer(pn.TNNetConvolutionLinear(1, 100))
    net.layers[1].weights = np.full((1, 10000), 0.5, np.float32)
    net.save_to_file(path)


def _padded_conv_text():
    """A convolution with padding 14141 after an input that collects its
    error: the error is pushed through a 28283 x 28283 padded buffer."""
    return (_struct(("TNNetInput", (1, 1, 1, 1)),
                    ("TNNetConvolutionLinear", (1, 1, 14141, 2147483647, 0)))
            + "\n!0]1;1;1;1;0.5\n")


def _with_metadata(path, structure):
    """``path`` (a pyneural .safetensors or .npz of a small net) with its
    structure metadata replaced by ``structure``."""
    if path.suffix == ".npz":
        with np.load(path) as npz:
            arrays = dict(npz)
        meta = json.loads(arrays["__pyneural__"].tobytes())
        meta["structure"] = structure
        arrays["__pyneural__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        np.savez(path, **arrays)
        return
    from safetensors import safe_open
    from safetensors.numpy import save_file
    with safe_open(str(path), framework="np") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    inner = json.loads(meta["pyneural"])
    inner["structure"] = structure
    meta["pyneural"] = json.dumps(inner)
    save_file(tensors, str(path), metadata=meta)


def _metadata_file(tmp_path, suffix):
    if suffix == ".safetensors":
        pytest.importorskip("safetensors")
    net = pn.TNNet(FPCRandom(1))
    for layer in (pn.TNNetInput(1, 1, 1), pn.TNNetMaxPool(1), pn.TNNetFullConnectLinear(1)):
        net.add_layer(layer)
    path = tmp_path / f"pool{suffix}"
    net.save(path)
    _with_metadata(path, _struct(("TNNetInput", (1, 1, 1)),
                                 ("TNNetMaxPool", (1, 2147483647, 14141)),
                                 ("TNNetFullConnectLinear", (1, 1, 1, 0))))
    return path


HOSTILE = {
    "a 110-byte max-pool of padding 14141": (
        lambda tmp: _write(tmp / "pool.nn", _pool_text(14141)), "layer 1", "TNNetMaxPool"),
    "a max-pool of padding 100000": (
        lambda tmp: _write(tmp / "pool.nn", _pool_text(100000)), "layer 1", "TNNetMaxPool"),
    "a convolution padded by 14141, backpropagated": (
        lambda tmp: _write(tmp / "conv.nn", _padded_conv_text()), "layer 1",
        "TNNetConvolutionLinear"),
    "a 100x100 kernel on a 400x400 input": (
        lambda tmp: _big_kernel_file(tmp / "big.nn") or tmp / "big.nn", "layer 1",
        "TNNetConvolutionLinear"),
    "safetensors metadata of the max-pool": (
        lambda tmp: _metadata_file(tmp, ".safetensors"), "layer 1", "TNNetMaxPool"),
    "npz metadata of the max-pool": (
        lambda tmp: _metadata_file(tmp, ".npz"), "layer 1", "TNNetMaxPool"),
}


def _write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_file_is_refused_at_load_within_the_peak(case, tmp_path):
    make, layer, name = HOSTILE[case]
    path = make(tmp_path)
    result = _child(LOAD, str(path))
    assert result["outcome"].startswith("refused: "), result
    message = result["outcome"]
    assert layer in message and name in message and "to compute and train" in message
    needed = float(message.split(" needs ")[1].split(" MiB")[0].replace(",", ""))
    assert needed > 800, message                  # what the old loader let it allocate
    assert result["peak_mb"] < PEAK_MB, result


def _child_scratch(build):
    """Resident memory in a child before, and its peak after, one compute,
    backpropagate and fit_samples of the net ``build`` makes (code), and
    the kernel scratch pyneural counts for it."""
    return _child(f"""
        net = pn.TNNet(FPCRandom(1))
        for layer in {build}:
            net.add_layer(layer)
        shapes = [None] + [tuple(l.output.shape) for l in net.layers]
        scratch = sum(l._scratch(p) for l, p in zip(net.layers, shapes))
        before = status("VmRSS")
        x = np.ones(net.input_size, np.float32)
        net.compute(x)
        net.backpropagate(np.full(net.output_size, 3, np.float32))
        net.fit_samples(x[None], np.full((1, net.output_size), 3, np.float32))
        print(json.dumps({{"grown_mb": status("VmHWM") - before,
                          "scratch_mb": scratch / 2 ** 20}}))
    """)


@pytest.mark.parametrize("build", [
    # a window matrix of 226 * 226 positions x 625 weights (122 MiB)
    "[pn.TNNetInput(250, 250, 1), pn.TNNetConvolutionLinear(1, 25)]",
    # a 6001 x 6001 zero-padded input (137 MiB)
    "[pn.TNNetInput(1, 1, 1), pn.TNNetMaxPool(1, 6001, 3000)]",
    # a 6001 x 6001 zero-padded error (137 MiB)
    "[pn.TNNetInput(1, 1, 1, 1), pn.TNNetConvolutionLinear(1, 1, 3000, 6001)]",
])
def test_the_counted_scratch_is_what_the_kernels_allocate(build):
    result = _child_scratch(build)
    assert result["scratch_mb"] > 100
    assert 0.9 * result["scratch_mb"] < result["grown_mb"] < result["scratch_mb"] + 16, result


def test_the_load_budget_grows_with_the_file_and_names_the_layer():
    text = _pool_text(1000)                    # a 2001 x 2001 padded input: 15.3 MiB
    assert pn.TNNet.from_string(text).layers[1].padding == 1000
    too_big = _pool_text(3000)                 # 137 MiB
    with pytest.raises(pn.NNFormatError, match=r"layer 1: TNNetMaxPool needs 137.\d MiB to "
                                               r"compute and train \(137.\d MiB of it the "
                                               r"kernels' scratch\).*more than the 65.\d MiB a "
                                               r"109-character text"):
        pn.TNNet.from_string(too_big)
    # the same text with enough data beside it to back that much memory
    padded = too_big.rstrip("\n") + " " * 5000
    assert netmod._load_budget(len(padded))[0] > 137 << 20
    assert pn.TNNet.from_string(padded).layers[1].padding == 3000


def test_a_net_built_in_code_has_a_larger_cap_and_a_clear_error_beyond_it():
    net = pn.TNNet(FPCRandom(1))
    net.add_layer(pn.TNNetInput(1, 1, 1))
    # 3.2 GB of padded input: not a file's, but a program's to ask for
    assert net.add_layer(pn.TNNetMaxPool(1, 2147483647, 14141)).padding == 14141
    other = pn.TNNet(FPCRandom(1))
    other.add_layer(pn.TNNetInput(1, 1, 1))
    with pytest.raises(ValueError, match=r"layer 1: TNNetMaxPool needs 152,\d{3}.\d MiB.*more "
                                         r"than the 16,384 MiB a net built in code may take"):
        other.add_layer(pn.TNNetMaxPool(1, 2147483647, 100000))
    assert len(other.layers) == 1
    # and a structure string alone is a net built in code
    with pytest.raises(pn.NNFormatError, match="layer 1: TNNetMaxPool needs"):
        pn.TNNet().load_structure_from_string(_pool_text(100000).split("\n")[0])
    with pytest.raises(ValueError, match=r"layer 0: TNNetInput needs"):
        pn.TNNet().add_layer(pn.TNNetInput(46340, 46340, 1))


def test_a_batched_pass_over_large_images_holds_a_few_blocks_not_every_row():
    """64 rows of 256x256x3 images through a 32-feature convolution: 8 MiB
    of its output a row, so blocks of 8 rows (64 MiB), side by side on the
    cores; one block of all 64 rows would hold 512 MiB."""
    result = _child("""
        net = pn.TNNet(FPCRandom(1))
        for layer in (pn.TNNetInput(256, 256, 3), pn.TNNetConvolutionReLU(32, 3, 1, 1),
                      pn.TNNetMaxPool(32), pn.TNNetFullConnectLinear(10)):
            net.add_layer(layer)
        X = np.random.default_rng(0).uniform(-1, 1, (64, net.input_size)).astype(np.float32)
        before = status("VmRSS")
        net.compute_batch(X)
        print(json.dumps({"grown_mb": status("VmHWM") - before, "cpus": os.cpu_count()}))
    """)
    threads = min(8, result["cpus"])
    # per thread: a block's conv output and its activation (2 x 64 MiB), and slack
    assert result["grown_mb"] < threads * 2 * 64 + 32, result
