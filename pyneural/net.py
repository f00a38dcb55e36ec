"""TNNet: the layer list, per-sample compute / backpropagate, text I/O and
whole-net weight snapshots.

``compute`` and ``backpropagate`` run in the compiled kernel program (one
call for the whole chain), bit-exact with the original. ``compute_batch``
runs each layer's batched pass for many inputs at once (a numpy GEMM chain
for the dense layers, agreeing to ~1e-6 and depending on how many rows go
together; the per-sample arithmetic row by row for convolutions and
max-pools), or the exact per-sample kernel over every row with
``exact=True`` (the bits of ``compute``).

Threads: the kernel program works in the layers' own buffers, so each net
has a lock (``net.lock``, re-entrant) that every call into the kernels and
every read or write of all the weights at once takes. ``compute`` returns
the live output buffer, which the next ``compute`` from any thread
overwrites: a thread that shares a net reads it inside ``with net.lock:``,
or uses ``compute_batch``, which returns its own array.
"""
import threading

import numpy as np

from . import rng as _rng
from ._blocks import map_row_blocks, rows_per_block
from ._kernels import dense as _dense
from .layers import LAYER_CLASSES, TNNetInput, TNNetLayer
from .reports.interpolation import DEFAULT_K
from .nnformat import (LayerSpec, NNFormatError, format_data_block, format_structure,
                       parse_data, parse_structure, read_text, require_str, split_net)
from .volume import TNNetVolume, as_f32_scalar, as_f32_vector, blend

__all__ = ["TNNet", "ArchitectureError"]


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


def _plan_layers(specs, data_chars=None, text_chars=0):
    """Unattached layers for the specs of a structure string, checked (class,
    chain, structure integers, sizes, memory) before anything is allocated.

    With ``data_chars`` (structure and data loaded together, from a text
    or file of ``text_chars`` characters) the layers' parameters must fit
    in that many characters of data text (each value takes a character and
    a separator), and the memory the net needs within the load budget
    above; a structure alone is held to the budget of a net built in code.
    """
    budget, rule = (BUILD_MEMORY_LIMIT, _BUILD_RULE) if data_chars is None \
        else _load_budget(text_chars)
    layers, shape = [], None
    params_total = memory_total = 0
    for i, spec in enumerate(specs):
        cls = LAYER_CLASSES.get(spec.class_name)
        if cls is None:
            raise NNFormatError("unknown layer class", i, spec.class_name)
        if spec.prev != i - 1:
            raise NNFormatError(f"only chains are supported: layer {i} must follow "
                                f"layer {i - 1}", i, f"{spec.prev})")
        if (i == 0) != issubclass(cls, TNNetInput):
            raise NNFormatError("the first layer must be a TNNetInput, and only the first",
                                i, spec.class_name)
        try:
            layer = cls.from_struct_ints(spec.ints)
            prev_shape = shape
            shape, params = layer._plan(prev_shape)
            cost = layer._memory(prev_shape)
        except ValueError as exc:
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
    return layers


def _check_build_memory(layers, layer):
    """ValueError, naming ``layer``, when appending it to the attached
    ``layers`` would take their memory past BUILD_MEMORY_LIMIT."""
    prev_shape = tuple(layers[-1].output.shape) if layers else None
    try:
        cost = layer._memory(prev_shape)
    except ValueError as exc:
        raise ValueError(f"layer {len(layers)}: {exc}") from None
    total = cost + sum(l._bytes for l in layers)
    if total > BUILD_MEMORY_LIMIT:
        raise ValueError(f"layer {len(layers)}: " + _memory_error(
            layer, prev_shape, cost, total, BUILD_MEMORY_LIMIT, _BUILD_RULE))


def _chain(layers, snap, X, keep_all):
    """The batched forward pass of ``layers`` with the weights of ``snap``
    over rows X: every layer's output (``keep_all``) or just the last."""
    outs = [X]
    # Overflow and NaN are results here, as in the exact kernels (which
    # do not warn): no RuntimeWarnings from the numpy chain.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for layer, params in zip(layers[1:], snap[1:]):
            if layer.has_weights:
                h = layer.forward_batch(outs[-1], *layer.split(params.data))
            else:
                h = layer.forward_batch(outs[-1])
            h = np.ascontiguousarray(h, dtype=np.float32)
            outs = outs + [h] if keep_all else [h]
    return outs


def _data_block(layer, params):
    """A layer's block of data text from its parameter volume (a copy)."""
    if not layer.has_weights:
        return ""
    weights, bias = layer.split(params.data)
    return format_data_block(bias, weights, layer.neuron_volume_shape())


class TNNet:
    """A feed-forward chain of layers (Pascal ``TNNet``).

    Parameters
    ----------
    generator : pyneural.rng.FPCRandom, optional
        Where weight initialisation draws from. Default: the global
        generator, as in Pascal (``rng.set_seed(n)`` is ``RandSeed := n``).
    """

    def __init__(self, generator=None):
        self.layers = []
        self._program = None
        self._generator = generator
        self.lock = threading.RLock()

    def __getstate__(self):
        # The lock and the compiled program are this process's: a copy gets
        # its own (the program is rebuilt from the layers at the first call).
        state = self.__dict__.copy()
        del state["lock"]
        state["_program"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.lock = threading.RLock()

    @property
    def generator(self):
        """The FPCRandom weight initialisation draws from (the global one
        unless the net was given its own)."""
        return self._generator if self._generator is not None else _rng.default

    # ----------------------------------------------------------- building --
    def add_layer(self, layer):
        """Append ``layer`` after the last one and initialise its weights
        (drawing from the generator, as the original's AddLayer). Returns it.

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
            rule, its output or parameters would exceed ``MAX_ELEMENTS``,
            or the net would need more than ``BUILD_MEMORY_LIMIT`` bytes
            to compute and train (the message names the layer).
        """
        if not isinstance(layer, TNNetLayer):
            raise TypeError(f"add_layer() needs a layer, got {type(layer).__name__}")
        if layer.index is not None:
            raise ValueError(f"{layer.class_name} already belongs to a net (layer {layer.index})")
        first = not self.layers
        if first != isinstance(layer, TNNetInput):
            raise ValueError("the first layer must be a TNNetInput, and only the first"
                             f" (got {layer.class_name} as layer {len(self.layers)})")
        return self._append(layer, self.generator)

    def _append(self, layer, rng):
        """Attach a checked layer at the end; its initial weights are drawn
        from ``rng``, or left zero with None (a loader that fills them next
        need not draw, nor move the global random stream)."""
        with self.lock:
            _check_build_memory(self.layers, layer)
            layer._attach(self.layers[-1] if self.layers else None, len(self.layers), rng)
            self.layers.append(layer)
            self._program = None
        return layer

    def _prog(self):
        if self._program is None:
            if len(self.layers) < 2:
                raise ValueError("the net needs an input layer and at least one more layer")
            specs = [layer._kernel_spec(self.layers[i - 1] if i else None)
                     for i, layer in enumerate(self.layers)]
            self._program = _dense.Program(specs)
        return self._program

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
        a, b = names
        for i, (la, lb) in enumerate(zip(self.layers, other.layers)):
            if la.signature() != lb.signature():
                raise ArchitectureError(
                    f"{a} and {b} have different architectures: layer {i} is "
                    f"{la.describe()} in {a} but {lb.describe()} in {b}")
        if len(self.layers) != len(other.layers):
            raise ArchitectureError(f"{a} and {b} have different architectures: "
                                    f"{len(self.layers)} layers in {a}, {len(other.layers)} in {b}")

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
        another thread never computes with half-drawn ones."""
        fresh = self.clone()
        for layer in reversed(fresh.trainable_layers()):
            layer.init_default(self.generator)
        self._take_params(fresh)

    def _take_params(self, other):
        """Copy ``other``'s parameters and momentum (same architecture) in
        one locked step: the swap half of "build aside, swap in"."""
        with self.lock:
            for mine, theirs in zip(self.trainable_layers(), other.trainable_layers()):
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
        if not self.layers:
            raise ValueError("the net has no layers")
        return self.layers[0].output.size

    @property
    def output_size(self):
        """Number of output values (ValueError for a net without layers)."""
        if not self.layers:
            raise ValueError("the net has no layers")
        return self.layers[-1].output.size

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
            if prog is None:
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
        out = self.layers[-1].output
        if volume is None:
            return out.copy()
        if not isinstance(volume, TNNetVolume):
            raise TypeError(f"get_output() needs a TNNetVolume, got {type(volume).__name__}")
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
            Y = np.empty((X.shape[0], self.output_size), np.float32)
            if X.shape[0]:
                with self.lock:
                    self._prog().forward_many(X, Y)
            return Y
        return self._batched(X, keep_all=False)[-1].reshape(X.shape[0], self.output_size)

    def _batched(self, X, keep_all):
        """The batched forward pass over checked rows X: every layer's
        outputs (``keep_all``) or just the last, as float32 arrays. The
        layers and a copy of their weights are taken in one locked step, so
        a thread that trains or reloads the net meanwhile cannot tear them."""
        with self.lock:
            layers, snap = self.layers, self.snapshot()
        if X.shape[1] != layers[0].output.size:
            raise ValueError(f"the net was reloaded with another input size "
                             f"({layers[0].output.size}) while rows of {X.shape[1]} were given")
        if not keep_all and any(hasattr(layer, "input_shape") for layer in layers):
            return [map_row_blocks(lambda rows: _chain(layers, snap, rows, False)[-1], X,
                                   rows_per_block(max(layer.output.size for layer in layers)))]
        return _chain(layers, snap, X, keep_all)

    def layer_outputs(self, X, exact=False):
        """Every layer's output for every row of ``X``: a list with one
        ``(samples, layer size)`` float32 array per layer (the input first).
        ``exact`` as in ``compute_batch``; ValueError / TypeError as there."""
        X = self._rows(X, self.input_size, "layer_outputs() input")
        if not exact:
            return self._batched(X, keep_all=True)
        outs = [np.empty((len(X), layer.output.size), np.float32) for layer in self.layers]
        with self.lock:
            prog = self._prog()
            for r, x in enumerate(X):
                prog.forward(x)
                for layer, out in zip(self.layers, outs):
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
        return [l.params if l.has_weights else TNNetVolume(0) for l in self.layers]

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
            for layer in self.layers:
                twin = copy._append(type(layer).from_struct_ints(layer.struct_ints()), None)
                twin._hyper[:] = layer._hyper
                if layer.has_weights:
                    twin.params.data[:] = layer.params.data
                    twin.momentum.data[:] = layer.momentum.data
        return copy

    def restore(self, snapshot):
        """Put the parameters of ``snapshot()`` (or ``snapshot_from_string``)
        back, bit-for-bit. Momentum is left alone. On error (ArchitectureError
        for sizes, TypeError for non-numbers) nothing is changed.

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
        arrays = self._check_snapshot(snapshot)
        with self.lock:
            for live, saved in zip(self.param_volumes(), arrays):
                live.data[:] = saved

    def _check_snapshot(self, snapshot, what="snapshot"):
        """The snapshot's per-layer parameters as flat float32 arrays (no copy
        for volumes), checked against this net. A snapshot is a sequence with
        one TNNetVolume (or array-like) per layer, as ``snapshot()`` returns."""
        vols = self.param_volumes()
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
            name = f"{what} layer {i} ({self.layers[i].class_name})"
            a = as_f32_vector(saved, what=name)
            if a.size != live.size:
                raise ArchitectureError(f"layer {i} ({self.layers[i].class_name}): {what} has "
                                        f"{a.size} parameters, the net {live.size}")
            arrays.append(a)
        return arrays

    def interpolate(self, snap_a, snap_b, alpha):
        """Set the weights to ``A * (1 - alpha) + B * alpha`` in float32, as
        the original's ``MulMulAdd(1 - alpha, alpha, B)`` on a copy of A.
        Both snapshots are checked first: on error nothing is changed.

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
        arrays_a = self._check_snapshot(snap_a, "snap_a")
        arrays_b = self._check_snapshot(snap_b, "snap_b")
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
        blocks = parse_data(data_text)
        if len(blocks) != len(self.layers):
            raise ArchitectureError(
                f"data has {len(blocks)} layers, the net has {len(self.layers)}")
        snap = []
        for i, (layer, neurons) in enumerate(zip(self.layers, blocks)):
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
            layers = self.layers
            snap = self.snapshot() if data else None
        structure_text = data_text = None
        if structure:
            structure_text = format_structure(
                LayerSpec(i - 1, l.class_name, l.struct_ints()) for i, l in enumerate(layers))
        if data:
            data_text = "!".join(_data_block(l, v) for l, v in zip(layers, snap))
        return structure_text, data_text

    def load_data_from_string(self, data_text):
        """Load weights saved by ``save_data_to_string`` into this net (same
        architecture) and clear momentum, as the original. On error nothing
        is changed.

        Parameters
        ----------
        data_text : str

        Raises
        ------
        TypeError, NNFormatError, ArchitectureError
            As in ``snapshot_from_string``.
        """
        snap = self.snapshot_from_string(data_text)
        with self.lock:
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
        self._build(_plan_layers(parse_structure(require_str(structure_text, "structure text"))))

    def _build(self, layers, draw=True, data=None):
        """Attach planned layers into a new chain aside (drawing their
        initial weights, as the original's loader does, unless ``draw`` is
        False), load ``data`` text into it if given, then swap it in under
        the lock: another thread sees the old net or the new one, never a
        mix, and on error this net is unchanged."""
        built = TNNet(self._generator)
        for i, layer in enumerate(layers):
            try:
                built._append(layer, built.generator if draw else None)
            except ValueError as exc:
                raise NNFormatError(str(exc), i, layer.class_name) from None
        if data is not None:
            built.load_data_from_string(data)
        with self.lock:
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
        self._build(_plan_layers(parse_structure(structure), len(data), len(text)), data=data)

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
        (``"0.weight"`` (out, in), ``"0.bias"``, ``"2.weight"``, ...).

        See ``pyneural.io.from_state_dict``.

        Parameters
        ----------
        state : mapping of str to array-like
            Linear layers' weights and biases, in order (any key prefix).
        activations : str or sequence of str
            One of ``relu``, ``tanh``, ``sigmoid``, ``linear``, ``softmax``
            per Linear layer.
        generator : pyneural.rng.FPCRandom, optional
            The new net's generator.

        Returns
        -------
        TNNet

        Raises
        ------
        pyneural.io.FormatError
            Tensors that are not an MLP's (the message names the key), or
            no / too few activations.
        ValueError, TypeError
            An unknown activation name; ``state`` not a mapping.
        """
        from . import io
        return io.from_state_dict(state, activations, generator)

    def to_state_dict(self):
        """The weights in PyTorch's ``nn.Sequential`` layout, as float32
        numpy copies (``"0.weight"`` (out, in), ``"0.bias"``, ...; no bias
        for a ``suppress_bias`` layer). See ``pyneural.io.to_state_dict``.

        Returns
        -------
        dict of str to numpy.ndarray
        """
        from . import io
        return io.to_state_dict(self)

    def save(self, path):
        """Write the net in the format of the suffix: ``.nn`` (as
        ``save_to_file``), ``.safetensors`` or ``.npz`` (the state dict
        plus pyneural's structure, so ``pyneural.load`` needs no
        activations). Atomic. See ``pyneural.io.save``.

        Parameters
        ----------
        path : str or path-like

        Raises
        ------
        pyneural.io.FormatError
            Unknown suffix; NaN / Inf weights in a `.safetensors` / `.npz`.
        ImportError
            `.safetensors` without the safetensors package.
        OSError
            The file cannot be written.
        """
        from . import io
        io.save(self, path)

    def to_torch(self):
        """The net as a float32 ``torch.nn.Sequential`` whose
        ``state_dict()`` equals ``to_state_dict()``. See
        ``pyneural.io.to_torch``.

        Returns
        -------
        torch.nn.Sequential

        Raises
        ------
        ImportError
            torch is not installed.
        """
        from . import io
        return io.to_torch(self)

    # ------------------------------------------------------------ reports --
    def mode_connectivity_report(self, snapshot_b, samples, k=DEFAULT_K, **options):
        """Loss along the straight line from this net (A) to ``snapshot_b``.

        See ``pyneural.reports.mode_connectivity.mode_connectivity_report``.
        Returns a ModeConnectivityResult; ``print(result)`` prints the report.

        Parameters
        ----------
        snapshot_b : str, TNNet or snapshot
            Endpoint B of this architecture (``save_data_to_string()`` text
            as in Pascal, a whole ``save_to_string()`` text, a net or a
            snapshot).
        samples : TNNetVolumePairList, sequence of pairs, or (X, Y)
            The probes the loss is measured on.
        k : int
            Number of intervals (K+1 points; ``k < 1`` becomes 1, at most
            10,000).
        **options
            ``repair`` (bool: also the REPAIR'd path), ``exact`` (bool or "auto").

        Returns
        -------
        ModeConnectivityResult
            Its ``message`` says why, when there are no samples.

        Raises
        ------
        ArchitectureError
            B has another architecture.
        NNFormatError
            B's text is malformed.
        ValueError, TypeError
            Samples that do not fit the net.
        """
        from .reports.mode_connectivity import mode_connectivity_report
        return mode_connectivity_report(self, snapshot_b, samples, k, **options)

    def permutation_align_report(self, snapshot_b, samples, score_mode=None, k=DEFAULT_K,
                                 **options):
        """Align ``snapshot_b``'s hidden units to this net's (Git Re-Basin)
        and measure the barrier before and after.

        See ``pyneural.reports.permutation_align.permutation_align_report``.
        Returns a PermutationAlignResult; ``print(result)`` prints the report.

        Parameters
        ----------
        snapshot_b : str, TNNet or snapshot
            Endpoint B of this architecture; never modified.
        samples : TNNetVolumePairList, sequence of pairs, or (X, Y)
            The probes.
        score_mode : int or str, optional
            How units are matched (default "auto").
        k : int
            Number of intervals (K+1 points).
        **options
            ``solver``, ``refine``, ``refine_budget``, ``eval_samples``,
            ``scale_align``, ``repair``, ``check_scale``, ``check_recovery``,
            ``seed``, ``exact``, ``progress``.

        Returns
        -------
        PermutationAlignResult

        Raises
        ------
        ArchitectureError
            B has another architecture.
        NNFormatError
            B's text is malformed.
        ValueError
            Unknown score mode or solver; samples that do not fit the net.
        TypeError
            Samples in a form the report does not take.
        """
        from .reports.permutation_align import permutation_align_report
        return permutation_align_report(self, snapshot_b, samples, score_mode, k, **options)

    def merge_with(self, snapshot_b, samples, alpha=0.5, **options):
        """Merge this net (A) with ``snapshot_b`` (B): align B's hidden units
        to A's, average ``(1 - alpha) * A + alpha * aligned B``, optionally
        REPAIR (``repair=True``). This net is not modified.

        See ``pyneural.reports.merge.merge_with``. Returns a MergeResult:
        ``.net`` is the merged TNNet, ``print(result)`` prints the report.

        Parameters
        ----------
        snapshot_b : str, TNNet or snapshot
            Endpoint B of this architecture; never modified.
        samples : TNNetVolumePairList, sequence of pairs, or (X, Y)
            The probes alignment, refinement and REPAIR use.
        alpha : float in [0, 1]
            B's weight in the average.
        **options
            ``score_mode``, ``solver``, ``refine``, ``refine_budget``,
            ``repair``, ``eval_samples``, ``k``, ``seed``, ``exact``,
            ``progress``.

        Returns
        -------
        MergeResult

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
        return merge_with(self, snapshot_b, samples, alpha, **options)
