"""Fuzzing the `.nn` and volume text loaders.

Valid nets are generated over every layer class in LAYER_CLASSES (input
with and without collect_error, fully-connected and convolutional with and
without suppress_bias, convolutions and max-pools with padding and strides,
softmax with and without its skip flag), their weights set to
arbitrary float32 values (NaN, infinities and denormals included), saved,
then mutated: truncation, token deletion / duplication / replacement,
separator swaps among ``# ) : ; ! [ ] >``, huge, negative and zero numbers,
NaN / Inf spellings, stray unicode.

Whatever the loader is given, it either loads or raises a ValueError
subclass (NNFormatError or ArchitectureError, never IndexError, KeyError,
TypeError, OverflowError, MemoryError...), and whatever loads round-trips:
saving the loaded object, loading that and saving again gives the same text.

10,000 examples in all (NET + DATA + VOLUME + SPLICE below), derandomized
so that CI sees the same inputs on every run.
"""
import random
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import pyneural as pn
from pyneural import ArchitectureError, NNFormatError, TNNet, TNNetVolume
from pyneural.layers import LAYER_CLASSES
from pyneural.rng import FPCRandom

NET_EXAMPLES = 4500
DATA_EXAMPLES = 2500
VOLUME_EXAMPLES = 2000
SPLICE_EXAMPLES = 1000
assert NET_EXAMPLES + DATA_EXAMPLES + VOLUME_EXAMPLES + SPLICE_EXAMPLES == 10_000

LOAD_ERRORS = (NNFormatError, ArchitectureError)


def fuzz_settings(n):
    return settings(max_examples=n, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


_GENERATOR = FPCRandom(7)


def generator():
    # A private generator: loading draws initial weights, and the fuzzer must
    # not move the global one that other tests seed and read. One for all
    # examples (a new one costs more than a load): what it draws is always
    # overwritten (by the loaded data, or by _weights), so no result depends
    # on its state.
    return _GENERATOR


# ------------------------------------------------------------ valid text --

HIDDEN = [name for name in LAYER_CLASSES if name != "TNNetInput"]

# The base net comes from one drawn seed (architecture and weights): a
# hypothesis draw costs ~0.2 ms, and at 10,000 examples per-layer and
# per-weight draws, not the loader, would be the run time. The mutations,
# where the interest is, are drawn one by one.
arch_seeds = st.integers(0, 2 ** 32 - 1)

# Weights mix ordinary values, special ones and raw float32 bit patterns
# (NaN payloads, denormals, -0).
SPECIAL_F32 = np.array([0.0, -0.0, 1.0, -1.0, 0.1, 1e-45, -1e-40, 3.4028235e38, -3.4028235e38,
                        np.inf, -np.inf, np.nan, 1e10, 1.5e-5], np.float32)


def _weights(seed, size):
    g = np.random.default_rng(seed)
    kind = seed % 5
    if kind == 4:                                    # Glorot-like, as initialised
        return g.uniform(-0.7, 0.7, size).astype(np.float32)
    if kind == 0:
        return g.standard_normal(size).astype(np.float32)
    if kind == 1:
        return g.choice(SPECIAL_F32, size)
    if kind == 2:
        return g.integers(0, 2 ** 32, size, dtype=np.uint64).astype(np.uint32).view(np.float32)
    return np.where(g.random(size) < 0.3, g.choice(SPECIAL_F32, size),
                    g.standard_normal(size) * 1e3).astype(np.float32)


def _net(draw):
    """A small valid net (input, then 1 to 4 layers of any class) with
    arbitrary float32 weights, from one drawn seed."""
    seed = draw(arch_seeds)
    r = random.Random(seed)
    net = TNNet(generator())
    net.add_layer(pn.TNNetInput(r.randint(1, 3), r.randint(1, 2), r.randint(1, 2),
                                r.randint(0, 1)))                      # collect_error
    for _ in range(r.randint(1, 4)):
        name = r.choice(HIDDEN)
        cls = LAYER_CLASSES[name]
        if name.startswith("TNNetFullConnect"):
            layer = cls(r.randint(1, 3), r.randint(1, 2), r.randint(1, 2),
                        r.randint(0, 1))                               # suppress_bias
        elif name == "TNNetSoftMax":
            layer = cls(r.randint(0, 1))
        elif name.startswith("TNNetConvolution"):
            layer = cls(r.randint(1, 3), r.randint(1, 2), r.randint(0, 1), r.randint(1, 2),
                        r.randint(0, 1))                               # suppress_bias
        elif name == "TNNetMaxPool":
            layer = cls(r.randint(1, 3), r.randint(0, 2), r.randint(0, 1))
        else:
            layer = cls()
        net.add_layer(layer)
    for i, layer in enumerate(net.trainable_layers()):
        layer.params.data[:] = _weights(seed + i, layer.params.size)
    return net


def _volume_text(draw):
    seed = draw(arch_seeds)
    r = random.Random(seed)
    v = TNNetVolume(r.randint(0, 3), r.randint(0, 2), r.randint(0, 2))
    v.data[:] = _weights(seed, v.size)
    return v.save_to_string()


# -------------------------------------------------------------- mutation --

SEPARATORS = "#):;![]>"
_TOKEN_RE = re.compile(r"([#):;!\[\]>])")

NASTY_TOKENS = [
    # huge, negative and zero sizes
    "1000000000000", "2147483647", "2147483648", "4294967296", "46341", "65536",
    "9223372036854775808", "9" * 40, "9" * 5000, "-1", "-2147483649", "-0", "0", "00",
    "1" + "0" * 19,
    # NaN / Inf in every spelling
    "Nan", "NaN", "nan", "+Inf", "-Inf", "Inf", "inf", "-inf", "infinity", "1e39", "-1e39",
    "1e-50", "1e999999", "1e-999999",
    # almost-numbers
    "", " ", "1.", ".5", ".", "-", "+", "+1", "1e", "e5", "0x10", "1_000", "1,5", " 1", "1 ",
    "3.5", "1e5", "--1", "\t",
    # unicode and control characters
    "\u0661\u0662", "\uff11", "\u00e9", "\u2028", "\x00", "\U0001F642", "\ufeff", "\r\n", "\n",
    # names
    "TNNetBogus", "TNNetInput", "TNNetFullConnectReLU", "TNNetSoftMax", "TNNetLayer",
    "__class__", "tnnetinput",
] + list(SEPARATORS)

nasty = st.one_of(st.sampled_from(NASTY_TOKENS), st.text(max_size=6),
                  st.integers(-(2 ** 70), 2 ** 70).map(str))


mutation_kinds = st.sampled_from(["truncate", "delete", "duplicate", "replace", "replace",
                                  "replace", "separator", "insert", "strip_tail"])
separators = st.sampled_from(SEPARATORS + "\n")
mutation_counts = st.integers(0, 4)


def _tokens(text):
    return _TOKEN_RE.split(text)   # tokens at even, separators at odd positions


def _mutate_once(draw, text):
    kind = draw(mutation_kinds)
    if kind == "truncate":
        return text[: draw(st.integers(0, max(len(text) - 1, 0)))]
    if kind == "insert":
        at = draw(st.integers(0, len(text)))
        return text[:at] + draw(nasty) + text[at:]
    if kind == "strip_tail":
        return text[: len(text) - draw(st.integers(1, 3))]
    parts = _tokens(text)
    if kind == "separator":
        seps = list(range(1, len(parts), 2))
        if not seps:
            return text + draw(separators)
        parts[draw(st.sampled_from(seps))] = draw(separators)
        return "".join(parts)
    i = draw(st.integers(0, len(parts) - 1))
    if kind == "delete":
        del parts[i]
    elif kind == "duplicate":
        parts.insert(i, parts[i])
    else:
        parts[i] = draw(nasty)
    return "".join(parts)


def _mutate(draw, text):
    """0 to 4 mutations in a row."""
    for _ in range(draw(mutation_counts)):
        text = _mutate_once(draw, text)
    return text


# ----------------------------------------------------------------- tests --

def _load_net(text):
    """Load, or check that the error is a loader ValueError; the net or None."""
    try:
        net = TNNet.from_string(text, generator())
    except LOAD_ERRORS as exc:
        assert isinstance(exc, ValueError)
        assert str(exc)
        event(type(exc).__name__)        # see --hypothesis-show-statistics
        return None
    event("loaded")
    return net


@st.composite
def mutated_net_texts(draw):
    return _mutate(draw, _net(draw).save_to_string())


@fuzz_settings(NET_EXAMPLES)
@given(mutated_net_texts())
def test_mutated_net_text_loads_or_raises_a_value_error(text):
    net = _load_net(text)
    if net is not None:
        saved = net.save_to_string()
        again = TNNet.from_string(saved, generator())
        assert again.save_to_string() == saved
        # What loaded also runs, whatever the weights.
        again.compute(np.zeros(again.input_size, np.float32))


@st.composite
def net_and_data(draw):
    net = _net(draw)
    source = draw(st.sampled_from(["own", "own", "whole", "other"]))
    if source == "own":
        text = net.save_data_to_string()
    elif source == "whole":
        text = net.save_to_string()                      # a whole net is not data
    else:
        text = _net(draw).save_data_to_string()          # another net's data
    return net, _mutate(draw, text)


@fuzz_settings(DATA_EXAMPLES)
@given(net_and_data())
def test_mutated_data_text_loads_into_an_existing_net_or_changes_nothing(case):
    net, text = case
    before = net.save_to_string()
    net.compute(np.zeros(net.input_size, np.float32))
    try:
        net.load_data_from_string(text)
    except LOAD_ERRORS as exc:
        assert str(exc)
        event(type(exc).__name__)
        assert net.save_to_string() == before        # nothing half-loaded
        return
    event("loaded")
    saved = net.save_to_string()
    assert saved.partition(">")[0] == before.partition(">")[0]
    again = TNNet.from_string(saved, generator())
    assert again.save_to_string() == saved
    net.compute(np.zeros(net.input_size, np.float32))   # the program still fits


@st.composite
def mutated_volume_texts(draw):
    return _mutate(draw, _volume_text(draw))


@fuzz_settings(VOLUME_EXAMPLES)
@given(mutated_volume_texts())
def test_mutated_volume_text_loads_or_raises_a_value_error(text):
    try:
        v = TNNetVolume.from_string(text)
    except NNFormatError as exc:
        assert str(exc)
        event("NNFormatError")
        existing = TNNetVolume([1.0, 2.0])
        with pytest.raises(NNFormatError):
            existing.load_from_string(text)
        assert existing.shape == (2, 1, 1) and list(existing.data) == [1.0, 2.0]
        return
    event("loaded")
    saved = v.save_to_string()
    again = TNNetVolume.from_string(saved)
    assert again.save_to_string() == saved
    # Equal values (FloatToStr writes -0 as "0", so the sign of a zero is
    # the one thing text does not keep).
    assert again.shape == v.shape and np.array_equal(again.data, v.data, equal_nan=True)


@st.composite
def spliced(draw):
    """Pieces of two valid nets glued together, then mutated."""
    a, b = _net(draw).save_to_string(), _net(draw).save_to_string()
    i, j = draw(st.integers(0, len(a))), draw(st.integers(0, len(b)))
    return _mutate(draw, a[:i] + b[j:])


@fuzz_settings(SPLICE_EXAMPLES)
@given(spliced())
def test_spliced_net_text_loads_or_raises_a_value_error(text):
    net = _load_net(text)
    if net is not None:
        saved = net.save_to_string()
        assert TNNet.from_string(saved, generator()).save_to_string() == saved


# ------------------------------------------------- pinned regression cases --

INPUT = "-1)TNNetInput:{}::0;0;0;0;0;0;0;0"
FC = "0)TNNetFullConnectReLU:{}::0;0;0;0;0;0;0;0"


@pytest.mark.parametrize("input_ints,fc_ints,data", [
    ("1000000000000;1;1;0;0;0;0;0", "1;1;1;0;0;0;0;0", "!"),        # huge input
    ("2;1;1;0;0;0;0;0", "1000000000000;1;1;0;0;0;0;0", "!"),        # huge layer
    ("2;1;1;0;0;0;0;0", "65536;65536;1;0;0;0;0;0", "!"),             # 2**32 neurons
    ("50000;1;1;0;0;0;0;0", "50000;1;1;0;0;0;0;0", "!"),             # 2.5e9 weights
    ("2;1;1;0;0;0;0;0", "40000;1;1;0;0;0;0;0", "!"),                 # fits, but no data
    ("2;1;1;0;0;0;0;0", "9" * 5000 + ";1;1;0;0;0;0;0", "!"),         # too many digits
])
def test_absurd_sizes_are_value_errors_naming_the_layer(input_ints, fc_ints, data):
    text = INPUT.format(input_ints) + "#" + FC.format(fc_ints) + ">" + data
    with pytest.raises(NNFormatError, match=r"layer [01]"):
        TNNet.from_string(text, generator())


def test_absurd_sizes_through_the_constructors_are_value_errors():
    with pytest.raises(ValueError, match="TNNetInput"):
        pn.TNNetInput(10 ** 12)
    with pytest.raises(ValueError, match="TNNetFullConnectReLU"):
        pn.TNNetFullConnectReLU(10 ** 12)
    net = TNNet(generator())
    net.add_layer(pn.TNNetInput(100_000))
    with pytest.raises(ValueError, match=r"layer 1: TNNetFullConnectReLU parameters"):
        net.add_layer(pn.TNNetFullConnectReLU(100_000))
    assert net.count_layers() == 1


@pytest.mark.parametrize("bad", [None, 12, b"-1)TNNetInput", ["a"]])
def test_non_string_text_is_a_type_error(bad):
    net = TNNet(generator())
    net.add_layer(pn.TNNetInput(2))
    net.add_layer(pn.TNNetFullConnectLinear(1))
    before = net.save_to_string()
    for load in (lambda t: TNNet.from_string(t, generator()), TNNetVolume.from_string,
                 net.load_from_string, net.load_data_from_string,
                 net.load_structure_from_string, net.snapshot_from_string):
        with pytest.raises(TypeError, match="must be a str"):
            load(bad)
    assert net.save_to_string() == before
