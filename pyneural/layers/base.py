"""What every layer class has: buffers, learning rate and inertia, the
structure-string fields, and (``_Weighted``) one parameter store.

A layer holds its buffers (``output``, ``output_raw``, ``output_error``,
``output_error_deriv``: TNNetVolumes over numpy arrays), its learning rate
and inertia, and, for the weighted classes, its parameters. The per-sample
arithmetic is not here: ``TNNet`` compiles the chain into the kernel
program of ``pyneural._dense``. What is here is what the original's classes
own: shapes, weight initialisation, the structure-string fields and the
batched (numpy) forward pass: ``pre_activation`` and ``activate``, the one
place every batched computation in pyneural takes them from.

A weighted layer's parameters live in one flat float32 array ``params``
(with a momentum array of the same layout); ``split(params)`` is the one
place that knows the layout, and ``weights`` / ``bias`` are views of it.
"""
import copy

import numpy as np

from .._kernels import dense as _dense
from ..volume import MAX_ELEMENTS as _MAX_VOLUME_ELEMENTS
from ..volume import TNNetVolume, as_f32_scalar, as_f32_vector, as_sizes

__all__ = ["TNNetLayer", "TNNetInput", "ACTIVATIONS", "MAX_ELEMENTS"]

_F32 = np.float32
KERNEL_KINDS = _dense.KINDS

# The most elements one layer may have in its output or its parameters: the
# original's sizes are Integers (32-bit), and beyond this a typo in a `.nn`
# file would otherwise ask for terabytes.
MAX_ELEMENTS = _MAX_VOLUME_ELEMENTS


# What every attached layer costs per output element, whatever its class:
# four float32 buffers (output, raw output, error, derivative) and the
# kernel program's per-unit step, error value and index (4 + 4 + 8 bytes);
# and per parameter: the value and its momentum.
_BYTES_PER_OUTPUT = 4 * 4 + 16
_BYTES_PER_PARAM = 2 * 4


def _check_elements(count, what):
    if count > MAX_ELEMENTS:
        raise ValueError(f"{what}: {count} elements, more than the limit of {MAX_ELEMENTS}")


def _sigmoid(h):
    return (0.5 * (1 + np.tanh(0.5 * h))).astype(_F32)


def _softmax_rows(h):
    # The original's volume SoftMax, row by row, quirk included: a row whose
    # elements are all equal comes out as zeros.
    h = h - h.max(axis=1, keepdims=True)
    lo = h.min(axis=1, keepdims=True)
    h = np.where(lo < -1000, h * (-1000 / np.where(lo < -1000, lo, -1)), h)
    e = np.exp(np.clip(h, -4000, 4000))
    return np.where(lo == 0, 0, e / e.sum(axis=1, keepdims=True)).astype(_F32)


# The batched (numpy) activations by name. ReLU is fmax, not maximum: NaN
# must map to 0 as in the kernels (NaN > 0 is false), not pass through.
ACTIVATIONS = {
    "identity": lambda h: h,
    "relu": lambda h: np.fmax(h, 0),
    "tanh": lambda h: np.tanh(np.clip(h, -10, 10)),
    "sigmoid": _sigmoid,
    "softmax": _softmax_rows,
}



class _Store:
    """A layer's buffer (a pinned TNNetVolume). Reading gives the volume;
    assigning copies new values into it and refuses another size, so the
    compiled kernel program, which points at the buffer, can never see a
    stale or short array."""

    def __set_name__(self, owner, name):
        self.name, self.attr = name, "_" + name

    def __get__(self, layer, owner=None):
        if layer is None:
            return self
        return getattr(layer, self.attr)

    def __set__(self, layer, value):
        store = getattr(layer, self.attr, None)
        where = f"{layer.class_name}.{self.name}"
        if layer.index is not None:
            where = f"layer {layer.index} ({where})"
        if store is None:
            raise AttributeError(f"{where}: the layer is not in a net yet, so it has no buffer")
        store.data[:] = as_f32_vector(value, store.size, where)


def _sizes(layer, size_x, size_y, depth):
    """Checked integer sizes for a layer's constructor; errors name its class."""
    try:
        return as_sizes(size_x, size_y, depth)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{type(layer).__name__}: {exc}") from None


class TNNetLayer:
    """Base class: buffers, learning rate, inertia and structure fields.

    The buffers (``output``, ``output_raw``, ``output_error``,
    ``output_error_deriv``) and ``index`` are None until ``TNNet.add_layer``
    attaches the layer. A buffer keeps its array for life: assigning to it
    copies the values in (ValueError for another size).

    A layer reads one earlier layer of its net, ``prev`` (by default the
    one added before it; ``TNNet.add_layer_after`` names another), or, for
    the merging classes, the layers in ``links``.

    Parameters
    ----------
    ints : sequence of int
        The structure integers of the `.nn` text (padded with zeros to 8).
    floats : sequence of float
        The structure floats of the `.nn` text (padded with zeros to 8).
    """

    kind = None               # the kernel's name for this class
    has_weights = False
    activation = None         # "relu", "tanh", "sigmoid", "identity", "softmax"
    merges = False            # reads several layers (a sum, a concatenation)
    makes_inputs_collect = False  # an input layer it reads keeps a full error buffer
    _link_layers = ()         # the layers a merging layer reads, in order

    output = _Store()
    output_raw = _Store()
    output_error = _Store()
    output_error_deriv = _Store()

    # The lock of the net the layer is in (set by the net): the net computes
    # and trains in the layer's buffers under it. None for a layer in no net.
    _lock = None

    def __init__(self, ints=(0,) * 8, floats=(0.0,) * 8):
        self._ints = tuple(int(i) for i in ints) + (0,) * (8 - len(ints))
        self._floats = tuple(float(_F32(f)) for f in floats) + (0.0,) * (8 - len(floats))
        self._hyper = np.array([0.01, 0.9], dtype=_F32)
        self.index = None
        self.prev = None
        self._output = self._output_raw = self._output_error = self._output_error_deriv = None

    def __getstate__(self):
        # A layer of a net is copied under the net's lock, so that a layer
        # pickled or copied alone is one state of it while the net trains
        # (pickle serialises what this returns after the lock is released).
        # A layer in no net has no other writer: its attributes as they are.
        # The layers a merging layer reads stay references (their own
        # pickles), not copies: a net's pickle keeps its graph.
        state = self.__dict__.copy()
        lock = state.pop("_lock", None)
        if lock is None:
            return state
        links = state.pop("_link_layers", None)
        with lock:
            state = copy.deepcopy(state)
        if links is not None:
            state["_link_layers"] = links
        return state

    # -- hyper-parameters (read by the kernels through self._hyper) -------
    @property
    def learning_rate(self):
        """The layer's learning rate (stored as float32; default 0.01)."""
        return float(self._hyper[0])

    @learning_rate.setter
    def learning_rate(self, value):
        """Set the learning rate; TypeError / ValueError as ``as_f32_scalar``."""
        self._hyper[0] = as_f32_scalar(value, "learning_rate")

    @property
    def inertia(self):
        """The layer's inertia, the momentum factor (stored as float32; default 0.9)."""
        return float(self._hyper[1])

    @inertia.setter
    def inertia(self, value):
        """Set the inertia; TypeError / ValueError as ``as_f32_scalar``."""
        self._hyper[1] = as_f32_scalar(value, "inertia")

    # -- structure ---------------------------------------------------------
    @property
    def class_name(self):
        """The Pascal class name, e.g. ``"TNNetFullConnectReLU"``."""
        return type(self).__name__

    def struct_ints(self):
        """The 8 structure integers of the `.nn` text."""
        return self._ints

    def struct_floats(self):
        """The 8 structure floats of the `.nn` text (float32 values)."""
        return self._floats

    @property
    def links(self):
        """The indices of the layers a merging layer reads (empty for the
        others, which read ``prev``); only once attached."""
        return tuple(layer.index for layer in self._link_layers)

    def input_indices(self):
        """The indices of the layers whose outputs this layer reads, in
        order: ``links`` for a merging layer, else ``(prev,)`` (``()`` for
        the input layer). Only once attached."""
        if self.merges:
            return self.links
        return () if self.prev is None or self.prev < 0 else (self.prev,)

    @classmethod
    def from_spec(cls, ints, floats, link_layers):
        """Build the layer as the original's loader does from a `.nn`
        layer: its structure integers, floats and the layers it links to
        (only a merging class takes links). ValueError / TypeError as the
        constructor, or for links given to a class that reads one layer."""
        if link_layers:
            raise ValueError(f"{cls.__name__} reads one layer; the text links it to "
                             f"{len(link_layers)}")
        return cls.from_struct_ints(ints)

    @classmethod
    def from_struct_ints(cls, ints):
        """Build the layer as the original's loader does from 8 structure ints.

        Parameters
        ----------
        ints : sequence of int
            The 8 structure integers of a `.nn` layer (unused here: a
            weightless activation layer takes none).

        Returns
        -------
        TNNetLayer
            A new, unattached layer.
        """
        return cls()

    def signature(self):
        """What must agree for another net's weights to stand in for this
        layer's: class and output shape (weighted layers add neurons, fan-in
        and whether the bias is used). Only for an attached layer.

        Returns
        -------
        tuple
            Comparable with ``==`` against another layer's signature.
        """
        sig = (self.class_name, tuple(self.output.shape), self.input_indices(),
               self._ints, self._floats)
        if self.has_weights:
            sig += (self.neurons, self.fan_in, self.suppress_bias)
        return sig

    def describe(self):
        """E.g. ``TNNetFullConnectReLU output 12x1x1, 12 neurons x 2 inputs``
        (``, no bias`` when the bias is suppressed; ``reading layers 3, 1``
        when it does not read the layer before it). Only for an attached layer."""
        text = f"{self.class_name} output {'x'.join(str(s) for s in self.output.shape)}"
        if self.has_weights:
            text += f", {self.neurons} neurons x {self.fan_in} inputs"
            if self.suppress_bias:
                text += ", no bias"
        reads = self.input_indices()
        if self.index and reads != (self.index - 1,):
            text += f", reading layer{'s' if len(reads) > 1 else ''} " + ", ".join(map(str, reads))
        return text

    def _output_shape(self, prev_shape):
        return prev_shape

    def _error_size(self, size):
        return size

    def _param_count(self, prev_shape):
        return 0

    def _plan(self, prev_shape, link_shapes=()):
        """``(output shape, parameter count)`` this layer would have after a
        layer of output shape ``prev_shape`` (None for the first layer;
        a merging layer takes the shapes of its links instead), without
        allocating anything. ValueError, naming the class and the sizes,
        when either is beyond MAX_ELEMENTS."""
        shape = tuple(self._output_shape(link_shapes if self.merges else prev_shape))
        _check_elements(shape[0] * shape[1] * shape[2],
                        f"{self.class_name} output {shape[0]}x{shape[1]}x{shape[2]}")
        params = self._param_count(prev_shape)
        _check_elements(params, f"{self.class_name} parameters (weights + bias"
                                f" after a {'x'.join(str(s) for s in prev_shape or ())} input)")
        return shape, params

    def _scratch(self, prev_shape):
        """Bytes of working memory the kernel program allocates for this
        layer to compute and train it, beyond its buffers and parameters
        (padded inputs, window matrices, steps, winning cells), after a
        layer of output shape ``prev_shape``; 0 for the flat kinds. A
        layer kind whose kernels allocate says how much here, so that a net
        that would not fit is refused before anything is allocated."""
        return 0

    def _memory(self, prev_shape, link_shapes=()):
        """Bytes this layer holds and its kernels allocate to compute and
        train it after a layer of output shape ``prev_shape`` (a merging
        layer: after its links, of ``link_shapes``): its buffers,
        parameters and momentum, and its ``_scratch``. ValueError as
        ``_plan``."""
        shape, params = self._plan(prev_shape, link_shapes)
        return (_BYTES_PER_OUTPUT * shape[0] * shape[1] * shape[2]
                + _BYTES_PER_PARAM * params + self._scratch(prev_shape))

    def _attach(self, prev, index, rng):
        """Size the buffers after ``prev``, the layer it reads (None for the
        first layer; a merging layer reads its links); a weighted layer
        draws its initial weights from ``rng`` (None: they stay zero, for a
        copy that fills them)."""
        prev_shape = tuple(prev.output.shape) if prev is not None else None
        link_shapes = tuple(tuple(l.output.shape) for l in self._link_layers)
        try:
            shape, _ = self._plan(prev_shape, link_shapes)
        except ValueError as exc:
            raise ValueError(f"layer {index}: {exc}") from None
        self._bytes = self._memory(prev_shape, link_shapes)   # what the memory check sums
        self.index = index
        self.prev = prev.index if prev is not None else -1
        size = shape[0] * shape[1] * shape[2]
        self._output = TNNetVolume(*shape)._pin()
        self._output_raw = TNNetVolume(*shape)._pin()
        self._output_error = TNNetVolume(self._error_size(size))._pin()
        self._output_error_deriv = TNNetVolume(*shape)._pin()

    def _kernel_spec(self):
        """This layer's entry of the kernel program (see ``Program``)."""
        return (KERNEL_KINDS[self.kind], self._kernel_flag(), self.prev, self.output.size,
                None, None, self.output.data, self.output_raw.data,
                self.output_error.data, self.output_error_deriv.data, self._hyper,
                self._kernel_geometry(None), self.links or None, self._kernel_consts(), None)

    def _kernel_flag(self):
        return 0

    def _kernel_geometry(self, prev):
        """The integers a spatial kind needs beyond the flat sizes (None
        for the flat kinds)."""
        return None

    def _kernel_consts(self):
        """The float32 constants the kind reads (None when it reads none)."""
        return None

    # -- the batched forward pass (numpy, many samples at once) -----------
    # Every batched computation in pyneural (compute_batch, layer_outputs,
    # the reports' sweeps, refinement, REPAIR) goes through these methods,
    # so a layer's arithmetic is written once.
    def activate(self, z):
        """This layer's activation of ``z`` (samples x units), batched, as
        a new array (``z`` is not changed)."""
        return ACTIVATIONS[self.activation](z)

    def forward_batch(self, h):
        """This layer's outputs for the previous layer's outputs ``h``
        (samples x inputs), float32."""
        return self.activate(h)

    def _kernel_rows(self, h, size, params=None):
        """The per-sample kernel of this layer's kind (ext/_graph.pxi) run
        over the rows of ``h``, ``size`` outputs a row: the same bits as
        ``compute``, for the kinds numpy would round otherwise. ``params``:
        the flat parameters, for a kind that has them."""
        h = np.ascontiguousarray(h, dtype=_F32).reshape(len(h), -1)
        out = np.empty((len(h), size), dtype=_F32)
        _dense.graph_rows(KERNEL_KINDS[self.kind], h, out, self._kernel_geometry(None),
                          self._kernel_consts(), params)
        return out

    def __repr__(self):
        return f"{self.class_name}({', '.join(str(i) for i in self._ints[:4])})"


class TNNetInput(TNNetLayer):
    """The input layer: ``TNNetInput(size_x, size_y=1, depth=1, collect_error=0)``.

    Parameters
    ----------
    size_x, size_y, depth : int
        The input shape.
    collect_error : int
        Nonzero: the layer keeps a full-size error buffer, so
        backpropagation also computes the error at the input.

    Raises
    ------
    ValueError
        A size below 1, or more than ``MAX_ELEMENTS`` elements.
    """

    kind = "input"

    def __init__(self, size_x, size_y=1, depth=1, collect_error=0):
        size_x, size_y, depth = _sizes(self, size_x, size_y, depth)
        if min(size_x, size_y, depth) < 1:
            raise ValueError(f"TNNetInput sizes must be >= 1, got {size_x}x{size_y}x{depth}")
        _check_elements(size_x * size_y * depth, f"TNNetInput {size_x}x{size_y}x{depth}")
        super().__init__((size_x, size_y, depth, collect_error))

    @classmethod
    def from_struct_ints(cls, ints):
        """``TNNetInput(*ints[:4])``: sizes and ``collect_error``; ValueError
        as the constructor."""
        return cls(*ints[:4])

    def _output_shape(self, prev_shape):
        return self._ints[:3]

    def _error_size(self, size):
        # Without error collection the input's error buffer is 1x1x1, so the
        # first weighted layer never computes an input gradient.
        return size if self._ints[3] else 1

    def _kernel_flag(self):
        return int(bool(self._ints[3]))

    def _collect_error(self):
        """Keep a full-size error buffer from now on (the original's
        EnableErrorCollection, which a concatenation reading the input
        calls): the structure's fourth integer becomes 1."""
        if self._ints[3] != 1:
            self._ints = self._ints[:3] + (1,) + self._ints[4:]
            if self.index is not None:
                self._output_error = TNNetVolume(*self.output.shape)._pin()


class _Weighted(TNNetLayer):
    """A layer with neurons, each owning weights and a bias, stored in one
    flat float32 ``params`` array (and ``momentum`` in the same layout).
    Subclasses say how many neurons there are, the layout (``split``), how
    weights are drawn (``init_default``) and the batched forward."""

    has_weights = True
    params = _Store()
    momentum = _Store()

    def __init__(self, ints):
        super().__init__(ints)
        self._params = self._momentum = None

    @property
    def fan_in(self):
        """Weights per neuron; only once attached."""
        return self.params.size // self.neurons - 1

    def _param_count(self, prev_shape):
        return self._weights_per_neuron(prev_shape) * self.neurons + self.neurons

    def _weights_per_neuron(self, prev_shape):
        """Weights of one neuron after a layer of output shape ``prev_shape``:
        the whole flat volume (fully connected)."""
        return prev_shape[0] * prev_shape[1] * prev_shape[2]

    def _kernel_flag(self):
        return int(self.suppress_bias)

    def _attach(self, prev, index, rng):
        super()._attach(prev, index, rng)
        count = self._param_count(tuple(prev.output.shape))
        self._params = TNNetVolume(count)._pin()
        self._momentum = TNNetVolume(count)._pin()
        if rng is not None:
            self.init_default(rng)

    @property
    def weights(self):
        """The (neurons, fan_in) weight matrix, row ``n`` neuron ``n``'s
        weights: a writable view of ``params`` (assigning copies into it;
        ValueError for another shape)."""
        return self.split(self.params.data)[0]

    @weights.setter
    def weights(self, value):
        self._assign(self.weights, value, "weights")

    @property
    def bias(self):
        """The bias vector: a writable view of ``params`` (assigning copies
        into it; ValueError for another shape)."""
        return self.split(self.params.data)[1]

    @bias.setter
    def bias(self, value):
        self._assign(self.bias, value, "bias")

    def _assign(self, view, value, name):
        a = np.asarray(value.data if isinstance(value, TNNetVolume) else value)
        if a.dtype == object or a.dtype.kind not in "biuf":
            raise TypeError(f"layer {self.index} ({self.class_name}).{name} must be numeric, "
                            f"got dtype {a.dtype}")
        if a.shape != view.shape:
            raise ValueError(f"layer {self.index} ({self.class_name}).{name} has shape "
                             f"{view.shape}, got {a.shape}")
        with np.errstate(over="ignore"):
            view[...] = a

    def neuron_volume_shape(self):
        """The ``(size_x, size_y, depth)`` of one neuron's weights in the
        `.nn` data text: ``(fan_in, 1, 1)``, the whole input flat."""
        return (self.fan_in, 1, 1)

    def clear_momentum(self):
        """Zero the momentum (the inertia term of the next updates)."""
        self.momentum.fill(0)

    def _kernel_spec(self):
        spec = list(super()._kernel_spec())
        spec[4], spec[5] = self.params.data, self.momentum.data
        return tuple(spec)

    def forward_batch(self, h, weights=None, bias=None):
        """``activate(pre_activation(h, weights, bias))`` for the previous
        layer's outputs ``h`` (samples x its flat size); ``weights`` and
        ``bias`` as in ``pre_activation``."""
        z = self.pre_activation(h, weights, bias)
        if self.activation == "relu":
            return np.fmax(z, 0, out=z)         # z is new: no second big array
        return self.activate(z)
