"""The original's convolution and max-pooling layers.

Volumes are in the original's raw order: element ``(x, y, d)`` of a
``size_x x size_y x depth`` volume is at ``(y * size_x + x) * depth + d``
(an image stored height, width, channels). A row of ``compute_batch`` is
one such volume, flat.

A convolution's kernel is ``feature_size`` square unless its input is
smaller: as in the original, attaching the layer clamps it to
``feature_size_x = min(feature_size, size_x)`` wide and
``feature_size_y = min(feature_size, size_y)`` high (of the unpadded
input). Parameter store: one flat float32 array ``params = [W | bias]``
with ``W`` the ``(features, feature_size_x * feature_size_y *
input_depth)`` matrix, neuron-major: row ``n`` is feature ``n``'s kernel,
itself a ``(feature_size_x, feature_size_y, input_depth)`` volume in raw
order, so weight ``(ky * feature_size_x + kx) * input_depth + d``
multiplies input ``(x0 + kx, y0 + ky, d)`` of the window at ``(x0, y0)``.
``weights`` is that ``(features, K)`` view, ``kernels()`` the
``(features, ky, kx, d)`` one. Permuting the output channels is permuting
the rows of ``weights``, ``bias`` and the momentum alike; the layer after
then takes the same permutation on its input-channel axis (a convolution:
the last axis of ``kernels()``; a fully-connected layer: the last axis of
its weights reshaped to ``(neurons, size_y, size_x, depth)``; a max-pool
passes it through).
"""
import numpy as np

from .._kernels import dense as _dense
from .base import TNNetLayer, _Weighted, _check_elements, _F32

__all__ = ["TNNetConvolution", "TNNetConvolutionReLU", "TNNetConvolutionLinear",
           "TNNetMaxPool", "TNNetPointwiseConv", "TNNetPointwiseConvReLU",
           "TNNetPointwiseConvLinear"]


def _int_arg(layer, name, value, low):
    """A constructor integer, at least ``low``: an int, or a float holding a
    whole number as the dense layers' sizes take it (bool, 2.5 refused)."""
    cls = type(layer).__name__
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{cls}: {name} must be an integer, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{cls}: {name} must be >= {low}, got {value}")
    return int(value)


def _rows(layer, h):
    """``h`` as C-contiguous float32 rows of the layer's input size (no
    copy when it is one already); a 1-D ``h`` is one row."""
    width = int(np.prod(layer.input_shape))
    h = np.ascontiguousarray(h, dtype=_F32)
    if h.size % width or (h.ndim > 1 and h.shape[-1] != width):
        raise ValueError(f"{layer.class_name}: inputs of {width} values per row needed, got "
                         f"shape {h.shape}")
    return h.reshape(-1, width)


def _struct_int(i, doc):
    """A read-only property: structure integer ``i``."""
    return property(lambda self: self._ints[i], doc=doc)


class _Spatial:
    """What a convolution and a max-pool share: the input volume's shape
    (kept when attached), the constructor integers in the signature, and
    the geometry the kernels take, ``(size_x, size_y, depth, out_x, out_y,
    window_x, window_y, padding, stride)``."""

    _in_shape = None
    _arity = 0                  # how many structure integers the constructor takes

    @classmethod
    def from_struct_ints(cls, ints):
        """The constructor on the first structure integers (five for a
        convolution, three for a max-pool); ValueError / TypeError as it."""
        return cls(*ints[:cls._arity])

    @property
    def input_shape(self):
        """``(size_x, size_y, depth)`` of the input volume; once attached."""
        return self._in_shape

    def signature(self):
        """As ``TNNetLayer.signature``, plus the constructor integers."""
        return super().signature() + (self._ints,)

    def _input(self, prev_shape):
        if prev_shape is None:
            raise ValueError(f"{self.class_name} cannot be the first layer")
        return prev_shape

    def _attach(self, prev, index, rng):
        self._in_shape = tuple(prev.output.shape)
        super()._attach(prev, index, rng)

    def _kernel_geometry(self, prev):
        ox, oy, _ = self.output.shape
        return tuple(self._in_shape) + (ox, oy) + self._window()

    @staticmethod
    def _padded(prev_shape, pad):
        """Elements of the input volume zero-padded by ``pad`` (0 without)."""
        sx, sy, d = prev_shape
        return (sx + 2 * pad) * (sy + 2 * pad) * d if pad else 0


class _Convolution(_Spatial, _Weighted):
    """Convolution: ``Class(features, feature_size, input_padding=0,
    stride=1, suppress_bias=0)``, as in Pascal.

    Each of ``features`` neurons slides a ``feature_size_x x
    feature_size_y x input_depth`` kernel over the previous volume
    (zero-padded by ``input_padding`` on each side) at ``stride``; the
    kernel is ``feature_size`` wide and high, clamped to the unpadded
    input's width and height when attached (as the original's
    ``SetPrevLayer``). The output is ``out_x x out_y x features`` with
    ``out_x = (size_x + 2 * input_padding - feature_size_x) // stride + 1``
    (likewise ``out_y``).

    Parameters
    ----------
    features : int
        Output channels (neurons), >= 1.
    feature_size : int
        Kernel width and height, >= 1 (before the clamp).
    input_padding : int
        Zeros added on each side of the input, >= 0.
    stride : int
        Step between windows, >= 1.
    suppress_bias : int
        Nonzero: the forward pass does not add the bias (it is still
        stored, trained and saved, as in the original).

    Raises
    ------
    ValueError
        A count below its minimum.
    TypeError
        A non-integer argument.
    """

    _arity = 5

    def __init__(self, features, feature_size, input_padding=0, stride=1, suppress_bias=0):
        features = _int_arg(self, "features", features, 1)
        feature_size = _int_arg(self, "feature_size", feature_size, 1)
        input_padding = _int_arg(self, "input_padding", input_padding, 0)
        stride = _int_arg(self, "stride", stride, 1)
        suppress_bias = _int_arg(self, "suppress_bias", suppress_bias, 0)
        _check_elements(features, f"{type(self).__name__} {features} features")
        super().__init__((features, feature_size, input_padding, stride, suppress_bias))

    neurons = _struct_int(0, "Number of features (output channels).")
    features = _struct_int(0, "Number of output channels (the neurons).")
    feature_size = _struct_int(1, "Kernel width and height as constructed (see "
                                  "feature_size_x / feature_size_y for the clamped ones).")
    input_padding = _struct_int(2, "Zeros added on each side of the input.")
    stride = _struct_int(3, "Step between windows.")

    @property
    def suppress_bias(self):
        """True when the forward pass does not add the bias."""
        return bool(self._ints[4])

    @property
    def feature_size_x(self):
        """Kernel width, ``min(feature_size, size_x)`` of the input; None
        until attached."""
        return None if self._in_shape is None else self._kernel_xy(self._in_shape)[0]

    @property
    def feature_size_y(self):
        """Kernel height, ``min(feature_size, size_y)`` of the input; None
        until attached."""
        return None if self._in_shape is None else self._kernel_xy(self._in_shape)[1]

    def _kernel_xy(self, prev_shape):
        # The original clamps the kernel to the unpadded input when the
        # layer is attached, axis by axis, so a kernel never exceeds it.
        sx, sy, _ = self._input(prev_shape)
        return min(self._ints[1], sx), min(self._ints[1], sy)

    def _output_shape(self, prev_shape):
        sx, sy, _ = self._input(prev_shape)
        fx, fy = self._kernel_xy(prev_shape)
        pad, stride = self._ints[2:4]
        return ((sx + 2 * pad - fx) // stride + 1, (sy + 2 * pad - fy) // stride + 1,
                self._ints[0])

    def _weights_per_neuron(self, prev_shape):
        fx, fy = self._kernel_xy(prev_shape)
        return fx * fy * prev_shape[2]

    def _window(self):
        return self._kernel_xy(self._in_shape) + (self.input_padding, self.stride)

    def _scratch(self, prev_shape):
        # What _conv_alloc in ext/_conv.pxi allocates for training: the
        # window matrix (none for a pointwise kernel, which reads its
        # input), the transposed kernels, the summed step [W | bias], the
        # step per output, the compacted steps per position (value and
        # index) and the zero-padded error.
        fx, fy = self._kernel_xy(prev_shape)
        ox, oy, features = self._output_shape(prev_shape)
        k, positions = fx * fy * prev_shape[2], ox * oy
        pointwise = (fx, fy, self.input_padding, self.stride) == (1, 1, 0, 1)
        floats = (0 if pointwise else positions * k) + 2 * k * features + features \
            + positions * features + positions + self._padded(prev_shape, self.input_padding)
        return 4 * floats + 8 * positions

    def init_default(self, rng):
        """He uniform, as the original's convolutions: neuron by neuron,
        each kernel in raw order, ``f32((Random(10000) - 5000) / 5000)``
        (divided in double), then every weight times
        ``f32(sqrt(3 / K))`` with ``K = feature_size_x * feature_size_y *
        input_depth`` (in double). Biases and momentum are zeroed.

        Parameters
        ----------
        rng : pyneural.rng.FPCRandom
            The generator drawn from (``features * K`` draws).
        """
        n, k = self.neurons, self.fan_in
        draws = rng.random_ints(10000, n * k)
        w = ((draws - 5000) / 5000.0).astype(_F32).reshape(n, k)
        scale = _F32(np.sqrt(3.0 / k))
        self.weights[:] = w * scale
        self.bias[:] = 0
        self.momentum.fill(0)

    def split(self, params):
        """``(weights, bias)`` views of a flat array in this layer's layout
        ``[W | bias]``: weights ``(features, K)`` neuron-major (see the
        module's docstring), bias ``(features,)``. The one place that knows
        the layout."""
        n = self.neurons
        return params[: params.size - n].reshape(n, -1), params[params.size - n:]

    def neuron_volume_shape(self):
        """The ``(size_x, size_y, depth)`` of one neuron's weights in the
        `.nn` data text: ``(feature_size_x, feature_size_y, input_depth)``."""
        return self._kernel_xy(self._in_shape) + (self._in_shape[2],)

    def kernels(self, weights=None):
        """``weights`` (default the layer's own) as a
        ``(features, feature_size_y, feature_size_x, input_depth)`` view
        indexed ``[n, ky, kx, d]``."""
        w = self.weights if weights is None else weights
        fx, fy = self._kernel_xy(self._in_shape)
        return w.reshape(self.neurons, fy, fx, self._in_shape[2])

    def pre_activation(self, h, weights=None, bias=None):
        """The convolution of rows ``h`` (samples x input volume, raw order)
        as rows of output volumes (samples x out_x*out_y*features, raw
        order), bias added unless suppressed. It runs the per-sample
        kernel's arithmetic row by row (a window matrix per sample, kept in
        cache, beats one big im2col + GEMM here), so it gives the exact
        per-sample bits. ``weights`` ((features, K)) and ``bias`` default to
        the layer's own; the reports pass other values of this shape."""
        h = _rows(self, h)
        w = np.ascontiguousarray(self.weights if weights is None else weights, dtype=_F32)
        b = np.ascontiguousarray(self.bias if bias is None else bias, dtype=_F32)
        z = np.empty((h.shape[0], self.output.size), dtype=_F32)
        _dense.conv_rows(h, w.reshape(self.neurons, -1), b.reshape(-1),
                         self._kernel_geometry(None), self.suppress_bias, z)
        return z

    def __repr__(self):
        return f"{self.class_name}({', '.join(str(i) for i in self._ints[:5])})"


class TNNetConvolution(_Convolution):
    """Convolution with the original's tanh (see ``_Convolution`` for the
    arguments: ``(features, feature_size, input_padding=0, stride=1,
    suppress_bias=0)``)."""
    kind = "conv_tanh"
    activation = "tanh"


class TNNetConvolutionReLU(_Convolution):
    """Convolution with ReLU (see ``_Convolution`` for the arguments:
    ``(features, feature_size, input_padding=0, stride=1, suppress_bias=0)``)."""
    kind = "conv_relu"
    activation = "relu"


class TNNetConvolutionLinear(_Convolution):
    """Convolution without activation (see ``_Convolution`` for the
    arguments: ``(features, feature_size, input_padding=0, stride=1,
    suppress_bias=0)``)."""
    kind = "conv_linear"
    activation = "identity"


class TNNetMaxPool(_Spatial, TNNetLayer):
    """Max-pooling per channel: ``TNNetMaxPool(pool_size, stride=0, padding=0)``.

    Windows of ``pool_size x pool_size`` start every ``stride`` cells (0:
    ``pool_size``) of the input zero-padded by ``padding``; the output is
    ``ceil((in + 2 * padding) / stride)`` wide and high, so windows at the
    border are clipped to the input. Each output starts at -1e6 and takes
    every larger window value; the backward pass sends the error to the
    first cell that won (see docs/SEMANTICS.md for the visiting order).

    Raises
    ------
    ValueError
        ``pool_size`` below 1, a negative stride or padding.
    TypeError
        A non-integer argument.
    """
    kind = "maxpool"
    activation = "identity"

    _arity = 3

    def __init__(self, pool_size, stride=0, padding=0):
        pool_size = _int_arg(self, "pool_size", pool_size, 1)
        stride = _int_arg(self, "stride", stride, 0) or pool_size
        padding = _int_arg(self, "padding", padding, 0)
        super().__init__((pool_size, stride, padding))

    pool_size = _struct_int(0, "Window width and height.")
    stride = _struct_int(1, "Step between windows (pool_size when 0 was given).")
    padding = _struct_int(2, "Zeros added on each side of the input.")

    def _output_shape(self, prev_shape):
        sx, sy, d = self._input(prev_shape)
        _, stride, pad = self._ints[:3]
        return (-(-(sx + 2 * pad) // stride), -(-(sy + 2 * pad) // stride), d)

    def _window(self):
        return (self.pool_size, self.pool_size, self.padding, self.stride)

    def _scratch(self, prev_shape):
        # What _conv_alloc allocates for a max-pool: the zero-padded input
        # and the winning cell's x and y (int32) per output.
        ox, oy, d = self._output_shape(prev_shape)
        return 4 * self._padded(prev_shape, self.padding) + 8 * ox * oy * d

    def forward_batch(self, h):
        """The pooled rows (samples x output volume, raw order) of rows ``h``,
        with the per-sample kernel's arithmetic (the same bits)."""
        h = _rows(self, h)
        out = np.empty((h.shape[0], self.output.size), dtype=_F32)
        _dense.maxpool_rows(h, self._kernel_geometry(None), out)
        return out

    def __repr__(self):
        return f"{self.class_name}({', '.join(str(i) for i in self._ints[:3])})"


class _Pointwise:
    """A 1x1 convolution: ``Class(features, suppress_bias=0)``, stored as a
    convolution of feature size 1, padding 0, stride 1 (the original's
    ``PointwiseConv*``)."""

    def __init__(self, features, suppress_bias=0):
        super().__init__(features, 1, 0, 1, suppress_bias)

    @classmethod
    def from_struct_ints(cls, ints):
        """``Class(ints[0], ints[4])``: features and ``suppress_bias``."""
        return cls(ints[0], ints[4])

    def __repr__(self):
        return f"{self.class_name}({self._ints[0]}, {self._ints[4]})"


class TNNetPointwiseConv(_Pointwise, TNNetConvolution):
    """Pointwise (1x1) convolution with the original's tanh:
    ``TNNetPointwiseConv(features, suppress_bias=0)``."""


class TNNetPointwiseConvReLU(_Pointwise, TNNetConvolutionReLU):
    """Pointwise (1x1) convolution with ReLU:
    ``TNNetPointwiseConvReLU(features, suppress_bias=0)``."""


class TNNetPointwiseConvLinear(_Pointwise, TNNetConvolutionLinear):
    """Pointwise (1x1) convolution without activation:
    ``TNNetPointwiseConvLinear(features, suppress_bias=0)``."""
