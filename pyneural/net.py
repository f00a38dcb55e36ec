"""TNNet: the layer list, per-sample compute / backpropagate, text I/O and
whole-net weight snapshots.

``compute`` and ``backpropagate`` run in the compiled kernel program (one
call for the whole chain), bit-exact with the original. ``compute_batch``
runs each layer's batched pass for many inputs at once (a numpy GEMM chain
for the dense layers, agreeing to ~1e-6 and depending on how many rows go
together; the per-sample arithmetic row by row for convolutions and
max-pools), or the exact per-sample kernel over every row with
``exact=True`` (the bits of ``compute``).

Threads: one lock per net and one rule for it, in the Notes of ``TNNet``.
"""
import copy
import threading

import numpy as np

from . import rng as _rng
from ._blocks import map_row_blocks, rows_per_block
from .batched import walk
from ._kernels import dense as _dense
from .layers import LAYER_CLASSES, TNNetDropout, TNNetInput, TNNetLayer
from .reports.interpolation import DEFAULT_K
from .nnformat import (LayerSpec, NNFormatError, format_data_block, format_structure,
                       parse_data, parse_int, parse_structure, read_text, require_str,
                       split_net)
from .volume import TNNetVolume, as_f32_scalar, as_f32_vector, blend

__all__ = ["TNNet", "ArchitectureError"]


_LAST = object()     # _append's default: read the last layer


class ArchitectureError(ValueError):
    """Weights or a snapshot that do not fit this net's layers."""


# The memory a net may need to compute and train: the sum over its layers
# of ``TNNetLayer._memory`` (buffers, parameters and momentum, and the
# scratch the kernels allocate: padded inputs, window matrices, steps,
# winning cells), checked before anything is allocated.
#
# A net read from a text or a file (`.nn`, or pyneural's structure in a
# `.safetensors` / `.npz`) may need LOAD_MEMORY_ALLOWANCE plus
# LOAD_MEMORY_PER_CHAR per character (byte) of it. A file's size is
# mostly its weights, and a net's memory grows with its weights: a trained
# net needs a few bytes to a few thousand per character of its file (see
# docs/SEMANTICS.md, "pyneural's own"), while a short text that declares
# a huge padding, input or window matrix needs tens of kilobytes to
# megabytes per character.
# A net that needs more (a few small kernels over very large images) is
# built in code, or from its structure string alone, then given its data.
LOAD_MEMORY_ALLOWANCE = 64 << 20
LOAD_MEMORY_PER_CHAR = 16 << 10
# A net built in code (add_layer, a structure string alone, from_torch,
# clone) may need up to this much: beyond it a typo is refused by name
# instead of failing in the allocator (MemoryError) or being killed by the
# system for want of memory.
BUILD_MEMORY_LIMIT = 16 << 30


def _mib(n):
    return f"{n / (1 << 20):,.{0 if n % (1 << 20) == 0 else 1}f} MiB"


def _memory_error(layer, prev_shape, cost, total, budget, rule):
    """The message for a layer that takes a net's memory past its budget."""
    scratch = layer._scratch(prev_shape)
    of_which = f" ({_mib(scratch)} of it the kernels' scratch)" if scratch else ""
    return (f"{layer.class_name} needs {_mib(cost)} to compute and train{of_which}, the layers "
            f"up to it {_mib(total)}: more than the {_mib(budget)} {rule}")


def _load_budget(text_chars):
    """``(bytes, rule)``: what a text or file of ``text_chars`` characters may ask for."""
    budget = min(LOAD_MEMORY_ALLOWANCE + LOAD_MEMORY_PER_CHAR * text_chars, BUILD_MEMORY_LIMIT)
    return budget, (f"a {text_chars}-character text or file may ask for "
                    f"({_mib(LOAD_MEMORY_ALLOWANCE)} + {LOAD_MEMORY_PER_CHAR >> 10} KiB per "
                    "character; build a larger net in code)")


_BUILD_RULE = "a net built in code may take (pyneural.net.BUILD_MEMORY_LIMIT)"


def _links(spec, i):
    """The layer indices of a structure's links field (``"3;1"``)."""
    if not spec.links:
        return []
    return [parse_int(token, i, "a link (layer index)") for token in spec.links.split(";")]


def _plan_layers(specs, data_chars=None, text_chars=0):
    """Unattached layers for the specs of a structure string, checked (class,
    the layer each reads and links to, structure integers, sizes, memory)
    before anything is allocated, and the index of the layer each reads.

    With ``data_chars`` (structure and data loaded together, from a text
    or file of ``text_chars`` characters) the layers' parameters must fit
    in that many characters of data text (each value takes a character and
    a separator), and the memory the net needs within the load budget
    above; a structure alone is held to the budget of a net built in code.

    Returns
    -------
    (list of TNNetLayer, list of int)
    """
    budget, rule = (BUILD_MEMORY_LIMIT, _BUILD_RULE) if data_chars is None \
        else _load_budget(text_chars)
    layers, prevs, shapes = [], [], []
    params_total = memory_total = 0
    for i, spec in enumerate(specs):
        cls = LAYER_CLASSES.get(spec.class_name)
        if cls is None:
            raise NNFormatError("unknown layer class", i, spec.class_name)
        if (i == 0) != issubclass(cls, TNNetInput):
            raise NNFormatError("the first layer must be a TNNetInput, and only the first",
                                i, spec.class_name)
        prev = spec.prev
        if (i == 0 and prev != -1) or (i > 0 and not 0 <= prev < i):
            raise NNFormatError(f"{spec.class_name} reads layer {prev}: a layer reads an "
                                f"earlier layer (0 to {i - 1})" if i else
                                "the input layer reads no layer (-1)", i, f"{prev})")
        links = _links(spec, i)
        for j in links:
            if not 0 <= j < i:
                raise NNFormatError(f"{spec.class_name} links to layer {j}: a link goes to an "
                                    f"earlier layer (0 to {i - 1}), not to itself, a later one "
                                    "or beyond the net", i, spec.links)
        try:
            layer = cls.from_spec(spec.ints, spec.floats, [layers[j] for j in links])
            prev_shape, link_shapes = shapes[prev] if i else None, [shapes[j] for j in links]
            shape, params = layer._plan(prev_shape, link_shapes)
            cost = layer._memory(prev_shape, link_shapes)
        except (ValueError, TypeError) as exc:
            raise NNFormatError(str(exc), i, spec.class_name) from None
        params_total += params
        memory_total += cost
        if data_chars is not None and params_total > data_chars:
            raise NNFormatError(
                f"{spec.class_name} has {params} parameters: more than the data text"
                f" ({data_chars} characters) can hold", i, spec.class_name)
        if memory_total > budget:
            raise NNFormatError(_memory_error(layer, prev_shape, cost, memory_total, budget,
                                              rule), i, spec.class_name)
        layers.append(layer)
        prevs.append(prev)
        shapes.append(shape)
    return layers, prevs


def _spec(layer):
    """The LayerSpec of an attached layer: what its `.nn` structure says."""
    return LayerSpec(layer.prev, layer.class_name, layer.struct_ints(),
                     ";".join(str(j) for j in layer.links), layer.struct_floats())


def _backward_order(layers):
    """The layers whose backward step runs, in the order it runs: the
    original's recursion from the last layer, where a layer goes on only
    at its last call (once every layer reading it, its departing branches,
    has passed its error back) and then calls what it reads in order. The
    input layer's step does nothing, so it is left out.

    Departing branches: each layer counts once for the layer it reads
    (``prev``), except a merging layer, which counts once for each of its
    links instead; the last layer counts at least one.
    """
    departing = [0] * len(layers)
    for layer in layers[1:]:
        for j in (layer.links if layer.merges else (layer.prev,)):
            departing[j] += 1
    departing[-1] = max(departing[-1], 1)
    calls, order, stack = [0] * len(layers), [], [len(layers) - 1]
    while stack:
        i = stack.pop()
        if i == 0:
            continue
        calls[i] += 1
        if calls[i] < departing[i]:
            continue
        order.append(i)
        stack.extend(reversed(layers[i].input_indices()))
    return order


def _check_build_memory(layers, layer, prev):
    """ValueError, naming ``layer``, when appending it to the attached
    ``layers``, reading ``prev`` (or its links), would take their memory
    past BUILD_MEMORY_LIMIT."""
    prev_shape = tuple(prev.output.shape) if prev is not None else None
    try:
        cost = layer._memory(prev_shape, tuple(tuple(l.output.shape) for l in layer._link_layers))
    except ValueError as exc:
        raise ValueError(f"layer {len(layers)}: {exc}") from None
    total = cost + sum(l._bytes for l in layers)
    if total > BUILD_MEMORY_LIMIT:
        raise ValueError(f"layer {len(layers)}: " + _memory_error(
            layer, prev_shape, cost, total, BUILD_MEMORY_LIMIT, _BUILD_RULE))


def _data_block(layer, params):
    """A layer's block of data text from its parameter volume (a copy)."""
    if not layer.has_weights:
        return ""
    weights, bias = layer.split(params.data)
    return format_data_block(bias, weights, layer.neuron_volume_shape())


def _architecture_difference(layers_a, layers_b, names):
    """What tells two layer lists apart (the first layer whose class, shape,
    neurons, fan-in or bias use differ, or the layer counts), in words that
    call them ``names``; None when they have one architecture."""
    a, b = names
    for i, (la, lb) in enumerate(zip(layers_a, layers_b)):
        if la.signature() != lb.signature():
            return (f"{a} and {b} have different architectures: layer {i} is "
                    f"{la.describe()} in {a} but {lb.describe()} in {b}")
    if len(layers_a) != len(layers_b):
        return (f"{a} and {b} have different architectures: "
                f"{len(layers_a)} layers in {a}, {len(layers_b)} in {b}")
    return None


def _param_volumes(layers):
    """The live parameter volume of each of ``layers`` (size 0 without weights)."""
    return [l.params if l.has_weights else TNNetVolume(0) for l in layers]


def _data_snapshot(data_text, layers):
    """``TNNet.snapshot_from_string`` against ``layers``."""
    blocks = parse_data(data_text)
    if len(blocks) != len(layers):
        raise ArchitectureError(
            f"data has {len(blocks)} layers, the net has {len(layers)}")
    snap = []
    for i, (layer, neurons) in enumerate(zip(layers, blocks)):
        if not layer.has_weights:
            if neurons:
                raise ArchitectureError(f"layer {i} ({layer.class_name}) has no weights, "
                                        f"but the data gives {len(neurons)} neurons")
            snap.append(TNNetVolume(0))
            continue
        fan_ins = {w.size for _, _, w in neurons}
        if len(neurons) != layer.neurons or fan_ins != {layer.fan_in}:
            got = f"{len(neurons)}x{sorted(fan_ins)[0] if len(fan_ins) == 1 else sorted(fan_ins)}"
            raise ArchitectureError(
                f"layer {i} ({layer.class_name}): the net has {layer.neurons}x{layer.fan_in}"
                f" (neurons x fan_in), the data {got}")
        vol = TNNetVolume(layer.params.size)
        weights, bias = layer.split(vol.data)
        weights[:] = np.stack([w for _, _, w in neurons])
        bias[:] = [b for b, _, _ in neurons]
        snap.append(vol)
    return snap


class TNNet:
    """A feed-forward chain of layers (Pascal ``TNNet``).

    Parameters
    ----------
    generator : pyneural.rng.FPCRandom, optional
        Where weight initialisation draws from. Default: the global
        generator, as in Pascal (``rng.set_seed(n)`` is ``RandSeed := n``).

    Notes
    -----
    Threads share a net through its lock, ``net.lock`` (re-entrant): the
    kernel program works in the layers' own buffers, and every call into
    the kernels takes the lock. One rule for everything that reads or
    writes a whole net:

    - A writer (``load_from_string``, ``load_data_from_string``,
      ``init_weights``, ``restore``, ``interpolate``) builds the new state
      aside and swaps it in under the lock, checked there against the
      layers it writes: when another thread has loaded layers of another
      architecture meanwhile, it raises ArchitectureError and changes
      nothing. A net is never left half written.
    - A reader (``snapshot``, ``clone``, the texts, ``save``, pickling and
      ``copy``, the batched passes, the reports) takes one state (the layer
      list and a copy of their weights) under the lock, and does the slow
      work (formatting, serialising, computing) outside it. A layer knows
      its net's lock, so a layer pickled or copied alone is one state of
      it too.

    ``compute`` returns the live output buffer, which the next ``compute``
    from any thread overwrites: a thread that shares a net reads it inside
    ``with net.lock:``, or uses ``compute_batch``, which returns its own
    array.
    """

    def __init__(self, generator=None):
        self.layers = []
        self._program = None
        self._draws = False         # the program draws from the generator (dropout)
        self._generator = generator
        self.lock = threading.RLock()

    def __getstate__(self):
        # One state of the net: copies of the layers taken under the lock
        # (pickle serialises what this returns after the lock is released;
        # copy.copy and deepcopy build the copy from it). The lock and the
        # compiled program are this process's: a copy gets its own (the
        # program is rebuilt from the layers at the first call).
        with self.lock:
            layers = [copy.copy(l) for l in self.layers]
        for layer in layers:        # a copy reads the copies, not the live layers
            if layer._link_layers:
                layer._link_layers = tuple(layers[l.index] for l in layer._link_layers)
        state = {**self.__dict__, "layers": layers}
        del state["lock"]
        state["_program"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.lock = threading.RLock()
        for layer in self.layers:
            layer._lock = self.lock

    @property
    def generator(self):
        """The FPCRandom weight initialisation draws from (the global one
        unless the net was given its own)."""
        return self._generator if self._generator is not None else _rng.default

    # ----------------------------------------------------------- building --
    def add_layer(self, layer):
        """Append ``layer``, reading the last layer (a sum or a
        concatenation reads the layers it was given instead), and
        initialise its weights (drawing from the generator, as the
        original's AddLayer). Returns it.

        Parameters
        ----------
        layer : TNNetLayer
            A new layer, not yet in any net. The first layer must be a
            TNNetInput, and no other may be.

        Returns
        -------
        TNNetLayer
            ``layer``, now attached (buffers sized, weights drawn).

        Raises
        ------
        TypeError
            ``layer`` is not a TNNetLayer.
        ValueError
            The layer already belongs to a net, breaks the input-first
            rule, reads layers of another net, its output or parameters
            would exceed ``MAX_ELEMENTS``, or the net would need more than
            ``BUILD_MEMORY_LIMIT`` bytes to compute and train (the message
            names the layer).
        """
        return self.add_layer_after(layer, self.layers[-1] if self.layers else None)

    def add_layer_after(self, layer, after):
        """Append ``layer`` reading ``after`` instead of the last layer: a
        branch (Pascal ``AddLayerAfter``). Returns it.

        Parameters
        ----------
        layer : TNNetLayer
            A new layer, not yet in any net.
        after : TNNetLayer or int
            A layer of this net, or its index (a negative index counts from
            the end, as a Python list).

        Returns
        -------
        TNNetLayer
            ``layer``, now attached.

        Raises
        ------
        TypeError
            ``layer`` is not a TNNetLayer, or ``after`` neither a layer nor
            an integer.
        ValueError
            ``after`` is not in this net, or as ``add_layer``.
        """
        if not isinstance(layer, TNNetLayer):
            raise TypeError(f"add_layer() needs a layer, got {type(layer).__name__}")
        if layer.index is not None:
            raise ValueError(f"{layer.class_name} already belongs to a net (layer {layer.index})")
        first = not self.layers
        if first != isinstance(layer, TNNetInput):
            raise ValueError("the first layer must be a TNNetInput, and only the first"
                             f" (got {layer.class_name} as layer {len(self.layers)})")
        prev = None if first and after is None else self._layer_of(after, "after")
        for i, link in enumerate(layer._link_layers):
            self._layer_of(link, f"{layer.class_name}'s input {i}")
        return self._append(layer, self.generator, prev)

    def _layer_of(self, ref, what):
        """The layer of this net that ``ref`` (a layer or an index) names."""
        if isinstance(ref, TNNetLayer):
            if ref.index is None or ref.index >= len(self.layers) or self.layers[ref.index] is not ref:
                raise ValueError(f"{what}: {ref.class_name} is not a layer of this net")
            return ref
        if isinstance(ref, bool) or not isinstance(ref, (int, np.integer)):
            raise TypeError(f"{what} must be a layer of this net or its index, got "
                            f"{type(ref).__name__}")
        if not -len(self.layers) <= ref < len(self.layers):
            raise ValueError(f"{what}: no layer {ref} in a net of {len(self.layers)} layers")
        return self.layers[ref]

    def _append(self, layer, rng, prev=_LAST):
        """Attach a checked layer at the end, reading ``prev`` (default:
        the last layer); its initial weights are drawn from ``rng``, or
        left zero with None (a loader that fills them next need not draw,
        nor move the global random stream). A concatenation makes an input
        layer it reads collect error, as the original's does."""
        with self.lock:
            if prev is _LAST:
                prev = self.layers[-1] if self.layers else None
            _check_build_memory(self.layers, layer, prev)
            layer._attach(prev, len(self.layers), rng)
            layer._lock = self.lock
            if layer.makes_inputs_collect:
                for link in layer._link_layers:
                    if isinstance(link, TNNetInput):
                        link._collect_error()
            self.layers.append(layer)
            self._program = None
        return layer

    def _prog(self):
        if self._program is None:
            if len(self.layers) < 2:
                raise ValueError("the net needs an input layer and at least one more layer")
            specs, order, state = self._program_args()
            self._program = _dense.Program(specs, order, state)
            self._draws = state is not None
        elif self._draws:
            self.generator.kernel_state()           # RandSeed may have changed
        return self._program

    def _program_args(self):
        """What the kernel Program is built from: one spec per layer, the
        backward order, the generator state (only a net with dropout draws)."""
        draws = any(isinstance(layer, TNNetDropout) for layer in self.layers)
        return ([layer._kernel_spec() for layer in self.layers], _backward_order(self.layers),
                self.generator.kernel_state() if draws else None)

    def enable_dropouts(self, flag):
        """Pascal ``EnableDropouts``: turn every dropout layer on or off
        (a dropout of rate 0 stays off)."""
        with self.lock:
            for layer in self.layers:
                if isinstance(layer, TNNetDropout):
                    layer.enabled = flag

    def get_last_layer(self):
        """Pascal ``GetLastLayer``: the output layer (IndexError for an empty net)."""
        return self.layers[-1]

    def count_layers(self):
        """Pascal ``CountLayers``: the number of layers, the input included."""
        return len(self.layers)

    def count_weights(self):
        """Number of weights, biases excluded (as the original's CountWeights)."""
        return sum(l.neurons * l.fan_in for l in self.trainable_layers())

    def count_parameters(self):
        """Weights plus biases."""
        return sum(l.params.size for l in self.trainable_layers())

    def trainable_layers(self):
        """The layers that own weights, in order."""
        return [l for l in self.layers if l.has_weights]

    def check_same_architecture(self, other, names=("A", "B")):
        """Raise ArchitectureError naming the first layer where ``other``
        differs from this net (class, shape, neurons, fan-in, bias use).

        Parameters
        ----------
        other : TNNet
        names : (str, str)
            What the message calls this net and ``other``.

        Raises
        ------
        ArchitectureError
            A layer differs, or the layer counts do.
        """
        difference = _architecture_difference(list(self.layers), list(other.layers), names)
        if difference:
            raise ArchitectureError(difference)

    def _require_layers(self, layers, what):
        """Under the lock, before a write of state built for ``layers`` (a
        list taken earlier): ArchitectureError, naming ``what``, when
        another thread has since replaced the net's layers by others of
        another architecture."""
        difference = _architecture_difference(self.layers, layers, ("the net now",
                                                                    "the net before"))
        if difference:
            raise ArchitectureError(f"{what}: another thread replaced the net's layers "
                                    f"meanwhile ({difference}); nothing was changed")

    def set_learning_rate(self, learning_rate, inertia):
        """Pascal ``SetLearningRate``: on every layer that exists now.

        Parameters
        ----------
        learning_rate, inertia : float
            Stored as float32 in each layer.

        Raises
        ------
        TypeError
            A value that is not a real number.
        ValueError
            An integer too large for a float.
        """
        # Checked once, before any layer changes: all layers or none.
        learning_rate = as_f32_scalar(learning_rate, "learning rate")
        inertia = as_f32_scalar(inertia, "inertia")
        with self.lock:
            for layer in self.layers:
                layer.learning_rate = learning_rate
                layer.inertia = inertia

    def init_weights(self):
        """Pascal ``InitWeights``: re-draw every layer's weights, last layer
        first (so the draw order is reversed), and clear all momentum.
        The new weights are drawn into a copy and swapped in at once, so
        another thread never computes with half-drawn ones.

        Raises
        ------
        ArchitectureError
            Another thread loaded layers of another architecture into the
            net while the weights were drawn; the net is left as that
            thread made it.
        """
        fresh = self.clone()
        for layer in reversed(fresh.trainable_layers()):
            layer.init_default(self.generator)
        with self.lock:
            self._require_layers(fresh.layers, "init_weights")
            for mine, theirs in zip(self.trainable_layers(), fresh.trainable_layers()):
                mine.params.data[:] = theirs.params.data
                mine.momentum.data[:] = theirs.momentum.data

    def clear_momentum(self):
        """Zero the momentum of every weighted layer."""
        with self.lock:
            for layer in self.trainable_layers():
                layer.clear_momentum()

    # ------------------------------------------------------------ running --
    @property
    def input_size(self):
        """Number of input values (ValueError for a net without layers)."""
        layers = self.layers
        if not layers:
            raise ValueError("the net has no layers")
        return layers[0].output.size

    @property
    def output_size(self):
        """Number of output values (ValueError for a net without layers)."""
        layers = self.layers
        if not layers:
            raise ValueError("the net has no layers")
        return layers[-1].output.size

    def compute(self, x):
        """Forward one sample; returns the last layer's output volume (live:
        it changes at the next compute; ``.copy()`` it to keep it).

        ``x`` is a TNNetVolume or an array-like of ``input_size`` numbers; a
        contiguous float32 array is used without copying.

        Parameters
        ----------
        x : TNNetVolume or array-like
            ``input_size`` values, read in flat order.

        Returns
        -------
        TNNetVolume
            The last layer's ``output`` buffer.

        Raises
        ------
        ValueError
            ``x`` has another size or is ragged, or the net has fewer than
            two layers.
        TypeError
            ``x`` is not numeric.
        """
        # acquire/release rather than `with`, and the store's array without
        # its property: on a small net these are a third of the call.
        self.lock.acquire()
        try:
            prog = self._program
            if prog is None or self._draws:         # (_prog reseeds a net that draws)
                prog = self._prog()
            # Fast path (no conversion, no copy): a volume's array or a float32
            # ndarray of the right size is read in place by the kernel.
            if not prog.forward_vec(x._data if type(x) is TNNetVolume else x):
                prog.forward(as_f32_vector(x, self.input_size, "compute() input"))
            return self.layers[-1]._output
        finally:
            self.lock.release()

    def backpropagate(self, target):
        """Pascal ``Backpropagate``: error ``output - target`` at the last
        layer, then every layer's online update (SGD with inertia).

        It uses the activations of the last ``compute``, so call that first.

        Parameters
        ----------
        target : TNNetVolume or array-like
            ``output_size`` values, read in flat order.

        Raises
        ------
        ValueError
            ``target`` has another size or is ragged, or the net has fewer
            than two layers.
        TypeError
            ``target`` is not numeric.
        """
        self.lock.acquire()
        try:
            prog = self._program
            if prog is None:
                prog = self._prog()
            if not prog.backward_vec(target._data if type(target) is TNNetVolume else target):
                prog.backward(as_f32_vector(target, self.output_size, "backpropagate() target"))
        finally:
            self.lock.release()

    def get_output(self, volume=None):
        """A copy of the last output (into ``volume`` when given).

        Parameters
        ----------
        volume : TNNetVolume, optional
            Receives the output (Pascal ``GetOutput(Y)``; resized when its
            total size differs).

        Returns
        -------
        TNNetVolume
            ``volume``, or a new volume.

        Raises
        ------
        TypeError
            ``volume`` is given but is not a TNNetVolume.
        """
        if volume is not None and not isinstance(volume, TNNetVolume):
            raise TypeError(f"get_output() needs a TNNetVolume, got {type(volume).__name__}")
        with self.lock:                 # a compute in another thread writes the buffer
            out = self.layers[-1].output
            if volume is None:
                return out.copy()
            volume.copy_from(out)
        return volume

    def _rows(self, X, n, what):
        if isinstance(X, TNNetVolume):
            X = X.data          # its flat memory order, not the (x, y, d) view
        X = np.asarray(X)
        if X.dtype == object or X.dtype.kind not in "biuf":
            raise TypeError(f"{what} must be numeric, got dtype {X.dtype}")
        with np.errstate(over="ignore"):     # beyond float32: +-Inf, as a cast
            X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim == 1 and X.size == n:
            X = X.reshape(1, n)
        if X.ndim != 2 or X.shape[1] != n:
            raise ValueError(f"{what} must have shape (samples, {n}), got {np.shape(X)}")
        return X

    def compute_batch(self, X, exact=False):
        """Outputs for every row of ``X`` (shape ``(samples, input_size)``).

        Parameters
        ----------
        X : array-like
            Shape ``(samples, input_size)``; a 1-D array of ``input_size``
            values is one sample.
        exact : bool
            True: the compiled per-sample forward over each row, the bits
            of ``compute`` row by row, however many rows. False (default):
            the layers' batched passes, fast for many rows, within ~1e-6
            of ``compute`` (relative to the outputs' size); of these the
            convolutions and max-pools give the per-sample bits, the
            activations are numpy's, and a fully-connected layer is a
            float32 matrix product in BLAS's summation order, which may
            depend on how many rows go together: a row's output can differ
            in its last bits between calls with other rows (conv nets run
            in blocks of up to 256 rows, fewer over large images).

        Returns
        -------
        ndarray, shape ``(samples, output_size)``, float32.

        Raises
        ------
        ValueError
            ``X`` has another shape, or the net has no layers (with
            ``exact``, fewer than two).
        TypeError
            ``X`` is not numeric.
        """
        X = self._rows(X, self.input_size, "compute_batch() input")
        if exact:
            with self.lock:
                Y = np.empty((X.shape[0], self.output_size), np.float32)
                if X.shape[0]:
                    self._prog().forward_many(X, Y)
            return Y
        return self._batched(X, keep_all=False)[-1]

    def _batched(self, X, keep_all):
        """The batched forward pass over checked rows X: every layer's
        outputs (``keep_all``) or just the last, as float32 arrays. The
        layers and a copy of their weights are taken in one locked step, so
        a thread that trains or reloads the net meanwhile cannot tear them."""
        with self.lock:
            layers, snap = list(self.layers), self.snapshot()
            masks = self._dropout_masks(layers, len(X))
        if X.shape[1] != layers[0].output.size:
            raise ValueError(f"the net was reloaded with another input size "
                             f"({layers[0].output.size}) while rows of {X.shape[1]} were given")
        if not keep_all and not masks and any(hasattr(l, "input_shape") for l in layers):
            return [map_row_blocks(lambda rows: walk(layers, snap, rows), X,
                                   rows_per_block(max(layer.output.size for layer in layers)))]
        if keep_all:
            outs = walk(layers, snap, X, keep=range(len(layers)), masks=masks)
            return [outs[i] for i in range(len(layers))]
        return [walk(layers, snap, X, masks=masks)]

    def _dropout_masks(self, layers, rows):
        """The kept values of every enabled dropout layer for ``rows``
        samples, drawn as ``compute`` row by row would draw them (per row,
        the layers in order, each value in order), so the batched pass
        consumes the generator's stream as the per-sample one does."""
        drops = [l for l in layers if isinstance(l, TNNetDropout) and l.enabled]
        if not drops or not rows:
            return {}
        widths = [l.output.size for l in drops]
        draws = self.generator.draw_u32(rows * sum(widths)).reshape(rows, -1)
        edges = np.cumsum([0] + widths)
        return {l.index: l.keep_masks(draws[:, a:b]) for l, a, b in zip(drops, edges, edges[1:])}

    def layer_outputs(self, X, exact=False):
        """Every layer's output for every row of ``X``: a list with one
        ``(samples, layer size)`` float32 array per layer (the input first).
        ``exact`` as in ``compute_batch``; ValueError / TypeError as there."""
        X = self._rows(X, self.input_size, "layer_outputs() input")
        if not exact:
            return self._batched(X, keep_all=True)
        with self.lock:
            layers = list(self.layers)
            outs = [np.empty((len(X), layer.output.size), np.float32) for layer in layers]
            prog = self._prog()
            for r, x in enumerate(X):
                prog.forward(x)
                for layer, out in zip(layers, outs):
                    out[r] = layer.output.data
        return outs

    def fit_samples(self, X, Y):
        """Per-sample training over the rows of X / Y in order, in one kernel
        call: exactly ``compute(x); backpropagate(y)`` for each row.

        Parameters
        ----------
        X : array-like
            Inputs, shape ``(samples, input_size)``.
        Y : array-like
            Targets, shape ``(samples, output_size)``.

        Raises
        ------
        ValueError
            A shape that does not fit the net, different row counts, or a
            net with fewer than two layers.
        TypeError
            ``X`` or ``Y`` is not numeric.
        """
        X = self._rows(X, self.input_size, "fit_samples() inputs")
        Y = self._rows(Y, self.output_size, "fit_samples() targets")
        if X.shape[0] != Y.shape[0]:
            raise ValueError(f"{X.shape[0]} inputs but {Y.shape[0]} targets")
        if X.shape[0]:
            with self.lock:
                self._prog().train_many(X, Y)

    # ----------------------------------------------------------- snapshots --
    def param_volumes(self):
        """The live parameter volume of every layer (size 0 without weights)."""
        return _param_volumes(self.layers)

    def snapshot(self):
        """A copy of every layer's parameters.

        Returns
        -------
        list of TNNetVolume
            One per layer: ``[W^T | bias]`` for a weighted layer (as
            ``params``), an empty volume for the others.
        """
        with self.lock:
            return [v.copy() for v in self.param_volumes()]

    def clone(self):
        """A new net with this net's layers, weights, momentum and learning
        rates: a copy that shares no buffer with this one (and draws no
        random number). It uses the same generator object (the global one
        unless this net has its own), as ``init_weights`` on it should.
        The reports work on one, so the net they are called on is never
        written to.

        Returns
        -------
        TNNet
        """
        copy = TNNet(self._generator)
        with self.lock:
            layers, prevs = _plan_layers([_spec(layer) for layer in self.layers])
            for layer, prev, mine in zip(layers, prevs, self.layers):
                copy._append(layer, None, copy.layers[prev] if prev >= 0 else None)
                layer._hyper[:] = mine._hyper
                if isinstance(mine, TNNetDropout):
                    layer.enabled = mine.enabled
                if mine.has_weights:
                    layer.params.data[:] = mine.params.data
                    layer.momentum.data[:] = mine.momentum.data
        return copy

    def restore(self, snapshot):
        """Put the parameters of ``snapshot()`` (or ``snapshot_from_string``)
        back, bit-for-bit. Momentum is left alone. On error (ArchitectureError
        for sizes, TypeError for non-numbers) nothing is changed. The
        snapshot is checked under the lock against the layers it is written
        into.

        Parameters
        ----------
        snapshot : sequence
            One TNNetVolume (or array-like, converted to float32) per layer.

        Raises
        ------
        ArchitectureError
            Another layer count, or a layer of another parameter count.
        TypeError
            ``snapshot`` is not a sequence (a str, volume or ndarray is
            not one), or holds non-numeric data.
        ValueError
            A ragged array-like.
        """
        with self.lock:
            arrays = self._check_snapshot(snapshot)
            for live, saved in zip(self.param_volumes(), arrays):
                live.data[:] = saved

    def _check_snapshot(self, snapshot, what="snapshot", layers=None):
        """The snapshot's per-layer parameters as flat float32 arrays (no copy
        for volumes), checked against ``layers`` (default: this net's, read
        once). A snapshot is a sequence with one TNNetVolume (or array-like)
        per layer, as ``snapshot()`` returns."""
        layers = list(self.layers) if layers is None else layers
        vols = _param_volumes(layers)
        if isinstance(snapshot, (str, bytes, TNNetVolume, np.ndarray)):
            raise TypeError(f"{what} must be a list with one volume per layer, "
                            f"got {type(snapshot).__name__}")
        try:
            items = list(snapshot)
        except TypeError:
            raise TypeError(f"{what} must be a list with one volume per layer, "
                            f"got {type(snapshot).__name__}") from None
        if len(items) != len(vols):
            raise ArchitectureError(f"{what} has {len(items)} layers, the net {len(vols)}")
        arrays = []
        for i, (live, saved) in enumerate(zip(vols, items)):
            name = f"{what} layer {i} ({layers[i].class_name})"
            a = as_f32_vector(saved, what=name)
            if a.size != live.size:
                raise ArchitectureError(f"layer {i} ({layers[i].class_name}): {what} has "
                                        f"{a.size} parameters, the net {live.size}")
            arrays.append(a)
        return arrays

    def interpolate(self, snap_a, snap_b, alpha):
        """Set the weights to ``A * (1 - alpha) + B * alpha`` in float32, as
        the original's ``MulMulAdd(1 - alpha, alpha, B)`` on a copy of A.
        Both snapshots are checked first, and the blend again (under the
        lock) against the layers it is written into: on error nothing is
        changed.

        Parameters
        ----------
        snap_a, snap_b : sequence
            Snapshots of this architecture (as ``restore`` takes them).
        alpha : float
            B's weight, rounded to float32; not limited to [0, 1].

        Raises
        ------
        ArchitectureError, TypeError, ValueError
            A snapshot that ``restore`` would refuse; TypeError also for
            an ``alpha`` that is not a real number, ValueError for a NaN or
            infinite one.
        """
        layers = list(self.layers)
        arrays_a = self._check_snapshot(snap_a, "snap_a", layers)
        arrays_b = self._check_snapshot(snap_b, "snap_b", layers)
        blended = [blend(a, b, alpha) for a, b in zip(arrays_a, arrays_b)]
        self.restore(blended)

    def snapshot_from_string(self, data_text):
        """Parse ``save_data_to_string()`` text into a snapshot of this
        architecture, without touching the live weights.

        Parameters
        ----------
        data_text : str
            One ``!``-separated block per layer.

        Returns
        -------
        list of TNNetVolume
            A snapshot, as ``snapshot()`` returns.

        Raises
        ------
        TypeError
            ``data_text`` is not a str.
        NNFormatError
            Malformed text (names the layer and the token).
        ArchitectureError
            Text of another architecture (names the layer and both shapes).
        """
        return _data_snapshot(data_text, list(self.layers))

    # --------------------------------------------------------------- text --
    def save_structure_to_string(self):
        """Pascal ``SaveStructureToString``: each layer's class and structure
        integers, ``#``-separated (the part before ``>``)."""
        return self._text(data=False)[0]

    def save_data_to_string(self):
        """Pascal ``SaveDataToString``: each layer's biases and weights in
        FloatToStr text, one ``!``-separated block per layer (empty for a
        layer without weights)."""
        return self._text(structure=False)[1]

    def save_to_string(self):
        """Pascal ``SaveToString``: structure ``>`` data, one line."""
        return ">".join(self._text())

    def _text(self, structure=True, data=True):
        """``(structure text, data text)`` of one state of the net: the
        layers and a copy of their weights are taken under the lock (a
        training or reloading thread cannot tear them), the slow
        formatting runs outside it."""
        with self.lock:
            layers = list(self.layers)
            snap = self.snapshot() if data else None
        structure_text = data_text = None
        if structure:
            structure_text = format_structure(_spec(layer) for layer in layers)
        if data:
            data_text = "!".join(_data_block(l, v) for l, v in zip(layers, snap))
        return structure_text, data_text

    def load_data_from_string(self, data_text):
        """Load weights saved by ``save_data_to_string`` into this net (same
        architecture) and clear momentum, as the original. On error nothing
        is changed. The text is parsed outside the lock; the weights are
        written under it, into the layers it was parsed for.

        Parameters
        ----------
        data_text : str

        Raises
        ------
        TypeError, NNFormatError, ArchitectureError
            As in ``snapshot_from_string``; ArchitectureError also when
            another thread loaded layers of another architecture into the
            net meanwhile.
        """
        layers = list(self.layers)
        snap = _data_snapshot(data_text, layers)
        with self.lock:
            self._require_layers(layers, "load_data_from_string")
            self.restore(snap)
            self.clear_momentum()

    def load_structure_from_string(self, structure_text):
        """Rebuild the layers from a structure string (drawing initial
        weights, as the original's loader does). The new layers have the
        default learning rate and inertia. On error the net is unchanged.

        Parameters
        ----------
        structure_text : str
            ``save_structure_to_string()`` text.

        Raises
        ------
        TypeError
            ``structure_text`` is not a str.
        NNFormatError
            Malformed text, an unknown layer class, a layer that does not
            follow the one before, an input layer that is not first (or
            a first layer that is not one), invalid sizes (below 1, or
            beyond ``MAX_ELEMENTS``), or a net that would need more than
            ``BUILD_MEMORY_LIMIT`` bytes.
        """
        self._build(*_plan_layers(parse_structure(require_str(structure_text, "structure text"))))

    def _build(self, layers, prevs, draw=True, data=None):
        """Attach planned layers into a new chain aside (drawing their
        initial weights, as the original's loader does, unless ``draw`` is
        False), load ``data`` text into it if given, then swap it in under
        the lock: another thread sees the old net or the new one, never a
        mix, and on error this net is unchanged."""
        built = TNNet(self._generator)
        for i, (layer, prev) in enumerate(zip(layers, prevs)):
            try:
                built._append(layer, built.generator if draw else None,
                              built.layers[prev] if prev >= 0 else None)
            except ValueError as exc:
                raise NNFormatError(str(exc), i, layer.class_name) from None
        if data is not None:
            built.load_data_from_string(data)
        with self.lock:
            for layer in built.layers:          # before they are visible as this net's
                layer._lock = self.lock
            self.layers, self._program = built.layers, None

    def load_from_string(self, text):
        """Pascal ``LoadFromString``: new layers from the structure, then the
        data. On error (NNFormatError or ArchitectureError, both ValueErrors)
        the net is unchanged.

        Building the layers draws initial weights from the generator before
        the data replaces them; the new layers have the default learning
        rate and inertia and zero momentum. The new net is built aside and
        swapped in at once (a thread computing meanwhile uses the old
        weights or the new ones).

        Parameters
        ----------
        text : str
            ``structure > data`` on one line, or ``save_to_file``'s two lines.

        Raises
        ------
        TypeError
            ``text`` is not a str.
        NNFormatError
            Malformed text, or a structure as
            ``load_structure_from_string`` refuses it, sizes the data text
            is too short to hold, or a net that would need more memory
            than the text's budget (``LOAD_MEMORY_ALLOWANCE`` +
            ``LOAD_MEMORY_PER_CHAR`` per character).
        ArchitectureError
            Data that does not fit the structure.
        """
        structure, data = split_net(require_str(text, "net text"))
        self._build(*_plan_layers(parse_structure(structure), len(data), len(text)), data=data)

    @classmethod
    def from_string(cls, text, generator=None):
        """A new net from ``save_to_string()`` text.

        Parameters
        ----------
        text : str
            As in ``load_from_string``.
        generator : pyneural.rng.FPCRandom, optional
            The new net's generator (default: the global one).

        Returns
        -------
        TNNet

        Raises
        ------
        TypeError, NNFormatError, ArchitectureError
            As in ``load_from_string``.
        """
        net = cls(generator)
        net.load_from_string(text)
        return net

    def save_to_file(self, path):
        """Pascal ``SaveToFile``: structure and data on two lines.

        Parameters
        ----------
        path : str or path-like

        Raises
        ------
        OSError
            The file cannot be written.
        """
        from . import io
        io.save(self, path, format="nn")

    def load_from_file(self, path):
        """Load a net saved by ``save_to_file`` or a one-line ``save_to_string``.

        Parameters
        ----------
        path : str or path-like
            Read as UTF-8 text.

        Raises
        ------
        OSError
            The file cannot be read.
        NNFormatError, ArchitectureError
            As in ``load_from_string``, or a file that is not UTF-8 text;
            the net is then unchanged.
        """
        self.load_from_string(read_text(path))

    @classmethod
    def from_file(cls, path, generator=None):
        """A new net from a file, as ``load_from_file`` reads it.

        Parameters
        ----------
        path : str or path-like
        generator : pyneural.rng.FPCRandom, optional
            The new net's generator (default: the global one).

        Returns
        -------
        TNNet

        Raises
        ------
        OSError, NNFormatError, ArchitectureError
            As in ``load_from_file``.
        """
        net = cls(generator)
        net.load_from_file(path)
        return net

    def __repr__(self):
        return "TNNet(" + " -> ".join(repr(l) for l in self.layers) + ")"

    # ------------------------------------------ safetensors, npz, torch --
    @classmethod
    def from_state_dict(cls, state, activations=None, generator=None):
        """A new net from a state dict in PyTorch's ``nn.Sequential`` layout
        of Linear layers (``"0.weight"`` (out, in), ``"0.bias"``,
        ``"2.weight"``, ...).

        See ``pyneural.io.from_state_dict``. Tensors do not say how
        convolutions and branches are wired: a convolutional net or one
        with branches comes from ``pyneural.from_torch(module)`` or from
        pyneural's own files (``pyneural.load``), whose metadata keeps the
        structure.

        Parameters
        ----------
        state : mapping of str to array-like
            The weights and biases of the layers, in order: numpy arrays,
            torch CPU tensors, anything with ``__array__``. Keys may carry any
            prefix (``"model.0.weight"``, ``"fc1.weight"``); a layer without a
            bias becomes a ``suppress_bias`` layer.
        activations : str or sequence of str
            What follows each weighted layer: one of ``relu``, ``tanh``,
            ``sigmoid``, ``linear`` or ``softmax`` per layer, as a list or
            one string (``"relu,relu,linear"``). It picks the layer class:
            ``relu`` a :class:`~pyneural.TNNetFullConnectReLU`, ``linear`` a
            :class:`~pyneural.TNNetFullConnectLinear`, ``softmax`` a linear
            layer and a :class:`~pyneural.TNNetSoftMax`. A state dict holds
            no activations, so there is no default.
        generator : pyneural.rng.FPCRandom, optional
            The new net's generator (default: the global one). Building draws
            initial weights from it, as :meth:`from_string` does, before the
            tensors replace them.

        Returns
        -------
        TNNet
            The weights copied bit for bit (float32).

        Raises
        ------
        pyneural.FormatError
            Tensors that are not a chain of layers (the message names the
            key), a non-float dtype, NaN or Inf, or no / too few activations.
        ValueError, TypeError
            An unknown activation name; ``state`` not a mapping.

        Warns
        -----
        UserWarning
            float16 / float64 tensors were converted to float32.
        """
        from . import io
        return io.from_state_dict(state, activations, generator)

    def to_state_dict(self):
        """The weights in PyTorch's layout, as float32 numpy copies: the
        state dict of ``to_torch()`` (``"0.weight"`` (out, in),
        ``"0.bias"``, ...; modules numbered in order, a chain's as its
        ``nn.Sequential``; no bias for a ``suppress_bias`` layer). See
        ``pyneural.io.to_state_dict``.

        Returns
        -------
        dict of str to numpy.ndarray

        Raises
        ------
        pyneural.io.FormatError
            A layer torch's modules cannot compute where it stands (a
            convolution or pooling after a fully-connected layer, a softmax
            over a 3-D volume), named.
        """
        from . import io
        return io.to_state_dict(self)

    def save(self, path):
        """Write the net to ``path`` in the format its suffix names,
        atomically (a file is either the old one or the whole new one):

        - ``.nn``: the original's two-line text, as :meth:`save_to_file`
          writes it (the Pascal library loads it);
        - ``.safetensors`` or ``.npz``: :meth:`to_state_dict`'s tensors plus
          pyneural's structure in the metadata, so :func:`pyneural.load`
          rebuilds the same net, bits included, without ``activations``,
          and torch's ``load_state_dict`` reads the tensors.

        The same net gives the same bytes. See :doc:`/guide/pytorch`.

        Parameters
        ----------
        path : str or path-like
            The file to write; its suffix (``.nn``, ``.safetensors``,
            ``.npz``) picks the format.

        Raises
        ------
        pyneural.FormatError
            Another suffix; NaN or Inf weights for ``.safetensors`` /
            ``.npz`` (the loader refuses them; ``.nn`` text keeps them).
        ImportError
            ``.safetensors`` without the safetensors package.
        OSError
            The file cannot be written.
        """
        from . import io
        io.save(self, path)

    def to_torch(self):
        """The net as a float32 torch model in eval mode: an
        ``nn.Sequential`` for a chain, a ``torch.fx.GraphModule`` for a net
        with branches (``+`` for a sum, ``torch.cat(dim=1)`` for the
        concatenations); its ``state_dict()`` equals ``to_state_dict()``.
        See ``pyneural.io.to_torch``.

        Returns
        -------
        torch.nn.Sequential or torch.fx.GraphModule

        Raises
        ------
        ImportError
            torch is not installed.
        pyneural.io.FormatError
            A layer with no torch counterpart where it stands, named.
        """
        from . import io
        return io.to_torch(self)

    # ------------------------------------------------------------ reports --
    def mode_connectivity_report(self, snapshot_b, samples, k=DEFAULT_K, **options):
        """Loss along the straight line from this net (A) to ``snapshot_b``
        (B): the loss at ``k + 1`` points ``(1 - alpha) * A + alpha * B``, the
        barrier (the highest loss on the path above the higher endpoint),
        and a verdict relative to the endpoints' loss. This net is not
        written to. What each line of the printed report means:
        :doc:`/guide/reports`.

        Parameters
        ----------
        snapshot_b : TNNet, str, path-like or snapshot
            Endpoint B, of this net's architecture: another net, the path
            of a saved net (``.nn``, ``.safetensors``, ``.npz``), a
            ``save_to_string()`` text, a ``save_data_to_string()`` text (the
            weights only, as in Pascal) or a :meth:`snapshot`. Never
            modified.
        samples : TNNetVolumePairList, sequence of pairs, or (X, Y)
            The probes the loss is measured on: volume pairs as in Pascal,
            or two arrays of inputs and targets (one row per sample).
        k : int, default 10
            Number of intervals: ``k + 1`` points from A to B. ``k < 1``
            becomes 1, as in the original; above 10,000 a ValueError.
        repair : bool, default False
            Keyword-only. Also measure the REPAIR'd path
            (``result.repaired``, ``result.repaired_barrier``): at each
            point every hidden unit's pre-activation mean and standard
            deviation over ``samples`` are reset to the endpoints' blend,
            then the loss is measured (see :doc:`/guide/merging`).
        exact : bool or "auto", default "auto"
            Keyword-only. True: every point by the bit-exact per-sample
            forward pass, as the original computes it; False: the batched
            numpy pass (float32 rounding may differ in the last bits);
            "auto": exact when that is cheap.

        Returns
        -------
        ~pyneural.reports.mode_connectivity.ModeConnectivityResult
            ``print(result)`` prints the original's report; ``barrier``,
            ``verdict``, ``curve`` and ``to_dict()`` hold the numbers. With
            no samples nothing is measured and ``message`` says why.

        Raises
        ------
        ArchitectureError
            B has another architecture (the message names the layer).
        NNFormatError
            B's text is malformed.
        ValueError, TypeError
            Samples that do not fit the net; ``k`` above 10,000 or not an
            integer; ``repair`` other than True or False.
        """
        from .reports.mode_connectivity import mode_connectivity_report
        return mode_connectivity_report(self, _endpoint(snapshot_b), samples, k, **options)

    def permutation_align_report(self, snapshot_b, samples, score_mode=None, k=DEFAULT_K,
                                 **options):
        """Align ``snapshot_b``'s hidden units to this net's (Git Re-Basin)
        and measure the barrier before and after.

        B's hidden units (a convolution's output channels included) are
        permuted to line up with A's, the function of B unchanged; the
        report gives the barrier on the straight path before and after, the
        permutations, checks that the permutation kept B's function, and a
        verdict. Neither net is written to. The options, the score modes and
        every line of the printed report: :doc:`/guide/reports`. The Pascal
        original's report, number for number, is ``score_mode=0`` or ``1``
        with ``solver="greedy", refine=False, check_scale=False``
        (``pyneural.reports.permutation_align.ORIGINAL_OPTIONS``).

        Parameters
        ----------
        snapshot_b : TNNet, str, path-like or snapshot
            Endpoint B, of this net's architecture: another net, the path
            of a saved net (``.nn``, ``.safetensors``, ``.npz``), a
            ``save_to_string()`` text, a ``save_data_to_string()`` text (the
            weights only, as in Pascal) or a :meth:`snapshot`. Never
            modified.
        samples : TNNetVolumePairList, sequence of pairs, or (X, Y)
            The probes: activation scores, refinement and (without
            ``eval_samples``) every barrier use them.
        score_mode : int or str, optional
            How units are matched: 0 / ``"weight"``, the cosine of incoming
            weight rows (the original's mode 0); 1 / ``"activation"``, the
            cosine of the units' outputs over the probes (mode 1); 2 /
            ``"weight_matching"``, Git Re-Basin weight matching (coordinate
            descent over the layers); 3 / ``"weight_matching_cosine"``, the
            same on unit-normalised rows; 4 / ``"auto"`` (default): the
            activation, weight-matching-cosine and weight matchings, each
            refined, the one with the lowest barrier on the probes kept (on
            large nets: activation matching, then gradient-guided
            assignment steps).
        k : int, default 10
            Number of intervals of the interpolation (``k + 1`` points);
            ``k < 1`` becomes 1; above 10,000 a ValueError.
        solver : {"hungarian", "greedy"}, default "hungarian"
            Keyword-only. Solves each layer's matching optimally
            (Hungarian), or greedily, best pair first, as the original.
        refine : bool, default True
            Keyword-only. After matching, try swaps of pairs of units and
            keep those that lower the barrier on the probes.
        refine_budget : int, optional
            Keyword-only. The most loss evaluations refinement may spend
            (per matching, with ``"auto"``). Default: ten passes over each
            layer's candidate swaps, at least 2000, so it grows with the
            widths.
        eval_samples : samples, optional
            Keyword-only. Measure every barrier on these instead (held-out
            data, the same forms as ``samples``); alignment and refinement
            still see only ``samples``.
        scale_align : bool, default False
            Keyword-only. Also report the barrier after rescaling B's ReLU
            units to A's norms (a positive scale keeps B's function).
        repair : bool, default False
            Keyword-only. Also measure the REPAIR'd path after alignment
            (``result.repaired``, ``result.repaired_barrier``), and align
            for that path: at each point every hidden unit's pre-activation
            mean and standard deviation are reset to the endpoints' blend,
            statistics from ``samples``, losses on the evaluation set.
        check_scale : bool, default True
            Keyword-only. Run check 4: random positive scales (and sign
            flips where the activation is odd) of B's units, compensated,
            must leave B's outputs unchanged.
        check_recovery : bool, default False
            Keyword-only. Run check 5: shuffle A by a known permutation and
            align it back; reports how much of the permutation is recovered.
        seed : int, default 0
            Keyword-only. Seeds weight matching's layer order and the
            random draws of checks 4 and 5.
        exact : bool or "auto", default "auto"
            Keyword-only. True: the bit-exact per-sample forward pass for
            every measurement; False: the batched numpy pass; "auto": exact
            when that is cheap.
        progress : bool, optional
            Keyword-only. A progress line for the refinement on stderr
            (default: when stderr is a terminal).
        permute_channels : bool, default True
            Keyword-only. Align convolutions' output channels too. False:
            permute only what the original can, a layer whose next layer
            has one weight per unit.

        Returns
        -------
        ~pyneural.reports.permutation_align.PermutationAlignResult
            ``print(result)`` prints the report; ``pre_barrier``,
            ``post_barrier``, ``reduction``, ``permutations`` (apply them
            with :func:`pyneural.permute`), ``verdict`` and ``to_dict()`` hold
            the numbers. With no samples, or no hidden layer, nothing is
            measured and ``message`` says why.

        Raises
        ------
        ArchitectureError
            B has another architecture.
        NNFormatError
            B's text is malformed.
        ValueError
            Unknown score mode or solver; samples that do not fit the net;
            ``k`` above 10,000; a ``seed`` that is not an integer >= 0; a
            flag other than True or False.
        TypeError
            Samples in a form the report does not take; ``k`` not an
            integer.
        """
        from .reports.permutation_align import permutation_align_report
        return permutation_align_report(self, _endpoint(snapshot_b), samples, score_mode, k,
                                        **options)

    def merge_with(self, snapshot_b, samples, alpha=0.5, **options):
        """Merge this net (A) with ``snapshot_b`` (B): align B's hidden units
        to A's, average ``(1 - alpha) * A + alpha * aligned B``, optionally
        REPAIR, and measure the merge against the endpoints and the naive
        (unaligned) average. This net is not modified. More nets at once:
        :func:`pyneural.merge_many`; the merge report explained:
        :doc:`/guide/merging`.

        Parameters
        ----------
        snapshot_b : TNNet, str, path-like or snapshot
            Endpoint B, of this net's architecture: another net, the path
            of a saved net (``.nn``, ``.safetensors``, ``.npz``), a
            ``save_to_string()`` text, a ``save_data_to_string()`` text (the
            weights only, as in Pascal) or a :meth:`snapshot`. Never
            modified.
        samples : TNNetVolumePairList, sequence of pairs, or (X, Y)
            The probes alignment, refinement and REPAIR's statistics use.
        alpha : float in [0, 1], default 0.5
            B's weight in the average (0.5: the midpoint).
        score_mode : int or str, optional
            Keyword-only. How units are matched, as in
            :meth:`permutation_align_report` (default ``"auto"``: three
            matchings, each refined, the best on the probes kept).
        solver : {"hungarian", "greedy"}, default "hungarian"
            Keyword-only. Optimal or greedy (the original's) matching.
        refine : bool, default True
            Keyword-only. Barrier-aware swap refinement after matching.
        refine_budget : int, optional
            Keyword-only. The most loss evaluations refinement may spend per
            matching; default 6000, fixed (unlike the report's, it does not
            grow with the widths: that made merges of the digits nets worse).
        repair : bool, default False
            Keyword-only. Also REPAIR the naive and the aligned merge: every
            hidden unit's pre-activation mean and standard deviation over
            ``samples`` reset to the endpoints' blend. ``result.net`` is then
            the repaired aligned merge.
        eval_samples : samples, optional
            Keyword-only. Measure every loss, accuracy and barrier on these
            (held-out data); alignment and REPAIR still see only ``samples``.
        k : int, default 10
            Keyword-only. Intervals of the barrier curves and of the
            refinement's interpolation.
        seed : int, default 0
            Keyword-only. Seeds weight matching's layer order.
        exact : bool or "auto", default "auto"
            Keyword-only. The bit-exact per-sample forward pass for the
            measurements (True), the batched one (False), or exact when cheap.
        progress : bool, optional
            Keyword-only. Refinement progress line on stderr (default: when
            stderr is a terminal).
        permute_channels : bool, default True
            Keyword-only. Align convolutions' output channels too; False:
            only the layers the original's report permutes.

        Returns
        -------
        ~pyneural.reports.merge.MergeResult
            ``result.net`` is the merged :class:`TNNet`; ``print(result)``
            prints the merge report; ``final``, ``endpoints``, ``naive``,
            ``verdict`` and ``to_dict()`` hold the numbers.

        Raises
        ------
        ArchitectureError
            B has another architecture.
        NNFormatError
            B's text is malformed.
        ValueError
            Empty samples, alpha outside [0, 1], unknown score mode or
            solver, samples that do not fit the net.
        TypeError
            Samples in a form the merge does not take.
        """
        from .reports.merge import merge_with
        return merge_with(self, _endpoint(snapshot_b), samples, alpha, **options)


def _endpoint(item):
    """Endpoint B of a report method: a path or a whole `.nn` text made a
    net here, at the boundary (``pyneural.io.as_net``); the reports take
    nets, snapshots and data-only texts."""
    from .io import as_net
    return as_net(item, "endpoint B")
