"""The fully-connected layers and the element-wise activation layers.

Parameter store of a fully-connected layer: one flat float32 array
``params = [WT | bias]`` where ``WT`` is the (fan_in, neurons) transpose of
the weight matrix. ``weights`` is its (neurons, fan_in) view, so row ``n`` is
neuron ``n``'s weights and there is no second copy to keep in sync. A
fully-connected layer after a 3-D volume (a convolution or a pooling) reads
the whole volume flat, in its raw order ``(y * size_x + x) * depth + d``, as
the original does: ``fan_in`` is the volume's size.
"""
import numpy as np

from ..volume import TNNetVolume, as_f32_scalar
from .base import TNNetLayer, _Weighted, _check_elements, _sizes, _F32

__all__ = [
    "TNNetFullConnectLinear", "TNNetFullConnectReLU", "TNNetFullConnect",
    "TNNetFullConnectSigmoid", "TNNetReLU", "TNNetSigmoid", "TNNetHyperbolicTangent",
    "TNNetIdentity", "TNNetSoftMax", "TNNetLeakyReLU", "TNNetReLU6", "TNNetSwish",
    "TNNetSELU", "TNNetDropout",
]


class _FullConnect(_Weighted):
    """Fully-connected layer, with the original's two constructors:
    ``Class(size, suppress_bias=0)`` and
    ``Class(size_x, size_y, depth, suppress_bias=0)``.

    As in Pascal, two positional arguments are ``(size, suppress_bias)``:
    ``TNNetFullConnectReLU(6, 1)`` is 6 neurons without bias, not a 6x1
    shape (the shape form takes three sizes). ``size_y`` and ``depth``
    may also be given by keyword.

    Parameters
    ----------
    size_x, size_y, depth : int
        The output shape: ``size_x * size_y * depth`` neurons, each seeing
        the whole flattened output of the previous layer.
    suppress_bias : int
        Nonzero: the forward pass does not add the bias (it is still
        stored in ``params`` and saved).

    Raises
    ------
    ValueError
        A size below 1, or more than ``MAX_ELEMENTS`` neurons.
    TypeError
        More than four arguments, or ``suppress_bias`` given twice.
    """

    def __init__(self, size_x, *args, size_y=1, depth=1, suppress_bias=None):
        if len(args) > 3:
            raise TypeError(f"{type(self).__name__}() takes at most 4 arguments, "
                            f"got {len(args) + 1}")
        given = args[0] if len(args) == 1 else args[2] if len(args) == 3 else None
        if given is not None and suppress_bias is not None:
            raise TypeError(f"{type(self).__name__}(): suppress_bias given twice")
        if len(args) >= 2:
            size_y, depth = args[:2]
        suppress_bias = given if given is not None else suppress_bias or 0
        size_x, size_y, depth = _sizes(self, size_x, size_y, depth)
        if min(size_x, size_y, depth) < 1:
            raise ValueError(f"{type(self).__name__} needs at least one neuron, got {size_x}x{size_y}x{depth}")
        _check_elements(size_x * size_y * depth, f"{type(self).__name__} {size_x}x{size_y}x{depth} neurons")
        super().__init__((size_x, size_y, depth, suppress_bias))

    @classmethod
    def from_struct_ints(cls, ints):
        """``Class(*ints[:4])``: sizes and ``suppress_bias``; ValueError as the
        constructor."""
        return cls(ints[0], ints[1], ints[2], ints[3])

    @property
    def neurons(self):
        """Number of neurons, ``size_x * size_y * depth``."""
        return self._ints[0] * self._ints[1] * self._ints[2]

    @property
    def suppress_bias(self):
        """True when the forward pass does not add the bias."""
        return bool(self._ints[3])

    def _output_shape(self, prev_shape):
        return self._ints[:3]

    def init_default(self, rng):
        """Glorot uniform as the original: draws neuron-major
        ``(Random(10000) - 5000) / 5000`` (divided in double), then scales
        the layer by ``sqrt(6 / (fan_in + neurons))`` in float32. Biases and
        momentum are zeroed.

        Parameters
        ----------
        rng : pyneural.rng.FPCRandom
            The generator drawn from (``neurons * fan_in`` draws).
        """
        n, fan_in = self.neurons, self.fan_in
        k = rng.random_ints(10000, n * fan_in)
        w = ((k - 5000) / 5000.0).astype(_F32).reshape(n, fan_in)
        scale = np.sqrt(_F32(6) / (_F32(fan_in) + _F32(n)), dtype=_F32)
        self.weights[:] = w * scale
        self.bias[:] = 0
        self.momentum.fill(0)

    def split(self, params):
        """``(weights, bias)`` views of a flat array in this layer's
        parameter layout ``[W^T | bias]`` (``params``, or a layer of a
        snapshot): weights ``(neurons, fan_in)``, bias ``(neurons,)``.
        The one place that knows the layout."""
        n = self.neurons
        return params[: params.size - n].reshape(-1, n).T, params[params.size - n:]

    def pre_activation(self, h, weights=None, bias=None):
        """``h @ W^T + b`` for inputs ``h`` (samples x fan_in); the bias is
        left out when it is suppressed. ``weights`` (neurons x fan_in) and
        ``bias`` default to the layer's own; the reports pass other
        values (a point on a path) for this layer's shape."""
        z = h @ (self.weights if weights is None else weights).T
        if not self.suppress_bias:
            z += self.bias if bias is None else bias
        return z

    def __repr__(self):
        return f"{self.class_name}({self.neurons})"


class TNNetFullConnectLinear(_FullConnect):
    """Fully connected, no activation.

    ``TNNetFullConnectLinear(size, suppress_bias=0)`` or
    ``TNNetFullConnectLinear(size_x, size_y, depth, suppress_bias=0)``, as in Pascal: see
    the fully-connected base class, ``_FullConnect``.
    """
    kind = "fc_linear"
    activation = "identity"


class TNNetFullConnectReLU(_FullConnect):
    """Fully connected with ReLU.

    ``TNNetFullConnectReLU(size, suppress_bias=0)`` or
    ``TNNetFullConnectReLU(size_x, size_y, depth, suppress_bias=0)``, as in Pascal: see
    the fully-connected base class, ``_FullConnect``.
    """
    kind = "fc_relu"
    activation = "relu"


class TNNetFullConnect(_FullConnect):
    """Fully connected with the original's tanh.

    ``TNNetFullConnect(size, suppress_bias=0)`` or
    ``TNNetFullConnect(size_x, size_y, depth, suppress_bias=0)``, as in Pascal: see
    the fully-connected base class, ``_FullConnect``.
    """
    kind = "fc_tanh"
    activation = "tanh"


class TNNetFullConnectSigmoid(_FullConnect):
    """Fully connected with sigmoid.

    ``TNNetFullConnectSigmoid(size, suppress_bias=0)`` or
    ``TNNetFullConnectSigmoid(size_x, size_y, depth, suppress_bias=0)``, as in Pascal: see
    the fully-connected base class, ``_FullConnect``.
    """
    kind = "fc_sigmoid"
    activation = "sigmoid"


class _Activation(TNNetLayer):
    def __init__(self, *ints):
        super().__init__(ints)


class TNNetReLU(_Activation):
    """Element-wise ReLU (passes x where x >= 0).

    Takes no arguments; the output has the previous layer's shape.
    """
    kind = "relu"
    activation = "relu"

    def __init__(self):
        super().__init__()


class TNNetSigmoid(_Activation):
    """Element-wise sigmoid.

    Takes no arguments; the output has the previous layer's shape.
    """
    kind = "sigmoid"
    activation = "sigmoid"

    def __init__(self):
        super().__init__()


class TNNetHyperbolicTangent(_Activation):
    """Element-wise tanh (the original's, clamped to +-10 inside).

    Takes no arguments; the output has the previous layer's shape.
    """
    kind = "tanh"
    activation = "tanh"

    def __init__(self):
        super().__init__()


class TNNetIdentity(_Activation):
    """Passes its input through.

    Takes no arguments; the output has the previous layer's shape.
    """
    kind = "identity"
    activation = "identity"

    def __init__(self):
        super().__init__()


class TNNetSoftMax(_Activation):
    """Softmax over the whole volume: ``TNNetSoftMax(skip_backprop_derivative=0)``.

    With the default the backward pass applies the full softmax Jacobian to
    the error ``y - t`` (an MSE loss through softmax, as the original).

    Parameters
    ----------
    skip_backprop_derivative : int
        Nonzero: the backward pass skips the Jacobian and passes the error
        through unchanged.
    """
    kind = "softmax"
    activation = "softmax"

    def __init__(self, skip_backprop_derivative=0):
        super().__init__(skip_backprop_derivative)

    @classmethod
    def from_struct_ints(cls, ints):
        """``TNNetSoftMax(ints[0])``: only ``skip_backprop_derivative``."""
        # The original rebuilds it from the first integer only, so a
        # NoForward flag in the text is not restored.
        return cls(ints[0])

    def _kernel_flag(self):
        return int(bool(self._ints[0]))


class _Kernelwise(_Activation):
    """An element-wise layer whose batched pass runs the per-sample kernel
    row by row (the same bits as ``compute``: these functions use the
    correctly rounded exp, which numpy's float32 exp is not)."""

    def activate(self, z):
        """The activation of ``z`` (samples x units), as a new array."""
        return self._kernel_rows(z, np.size(z) // max(len(z), 1)).reshape(np.shape(z))

    def _kernel_consts(self):
        return self._consts


class TNNetLeakyReLU(_Kernelwise):
    """Leaky ReLU: ``x`` where ``x > 0``, else ``x * alpha``:
    ``TNNetLeakyReLU(alpha=0.01)`` (alpha stored as float32, written in the
    structure's floats, as the original's ``FloatSt[0]``).

    Raises
    ------
    TypeError, ValueError
        ``alpha`` is not a finite real number.
    """
    kind = "leaky_relu"
    activation = "leaky_relu"

    def __init__(self, alpha=0.01):
        alpha = as_f32_scalar(alpha, "TNNetLeakyReLU alpha")
        if not np.isfinite(alpha):
            raise ValueError(f"TNNetLeakyReLU: alpha must be finite, got {alpha}")
        super().__init__()
        self._floats = (float(alpha),) + (0.0,) * 7
        self._consts = np.array([alpha], dtype=_F32)

    @property
    def alpha(self):
        """The slope for ``x <= 0`` (float32)."""
        return self._floats[0]

    @classmethod
    def from_spec(cls, ints, floats, link_layers):
        """``TNNetLeakyReLU(floats[0])``, as the original's loader."""
        if link_layers:
            return super().from_spec(ints, floats, link_layers)
        return cls(floats[0])

    def __repr__(self):
        return f"{self.class_name}({self.alpha:g})"


class TNNetReLU6(_Kernelwise):
    """ReLU capped at 6: ``TNNetReLU6(leakiness=0)``.

    ``x`` on (0, 6]; above 6, ``6 + (x - 6) * s``; at or below 0,
    ``0 + (x - 0) * s``, with the leak ``s = 0.001 * leakiness`` (0 by
    default, a plain clip). Its structure integers are the original's
    ``(0, 6, leakiness)``.

    Raises
    ------
    TypeError
        ``leakiness`` is not an integer.
    """
    kind = "relu_l"
    activation = "relu6"

    def __init__(self, leakiness=0):
        if isinstance(leakiness, bool) or not isinstance(leakiness, (int, np.integer)):
            raise TypeError(f"TNNetReLU6: leakiness must be an integer, got "
                            f"{type(leakiness).__name__}")
        super().__init__(0, 6, int(leakiness))
        # 0.001 * Leakiness in x87 extended precision, as FPC computes it.
        scale = _F32(np.longdouble("0.001") * np.longdouble(int(leakiness)))
        self._consts = np.array([0, 6, scale], dtype=_F32)

    @classmethod
    def from_struct_ints(cls, ints):
        """``TNNetReLU6(ints[2])``: the leakiness."""
        return cls(ints[2])

    def __repr__(self):
        return f"{self.class_name}({self._ints[2]})"


class TNNetSwish(_Kernelwise):
    """Swish, ``x * sigmoid(x)`` (sigmoid as ``1 / (1 + exp(-x))``).

    Takes no arguments; the output has the previous layer's shape.
    """
    kind = "swish"
    activation = "swish"
    _consts = None

    def __init__(self):
        super().__init__()


class TNNetSELU(_Kernelwise):
    """SELU: ``scale * x`` for ``x >= 0``, else ``scale * alpha * (exp(x) - 1)``
    computed as the original does (``e = (scale * alpha) * exp(x); e -
    scale * alpha``), with ``alpha = 1.6733``, ``scale = 1.0507`` in float32.

    Takes no arguments; the output has the previous layer's shape.
    """
    kind = "selu"
    activation = "selu"

    def __init__(self):
        super().__init__()
        alpha, scale = _F32(1.6733), _F32(1.0507)
        self._consts = np.array([scale, alpha * scale], dtype=_F32)


class TNNetDropout(_Activation):
    """Dropout: ``TNNetDropout(rate, one_mask_per_batch=1)``.

    The original's: while enabled, each ``compute`` copies its input and
    zeroes every value for which ``Random(R) = 0`` (one draw per value, in
    order, from the net's generator), with ``R = round(1 / rate)``; the
    kept values are not rescaled. Backward multiplies the error by the
    last mask. A rate of 0 or less disables it for good (``R = -1``).
    ``net.enable_dropouts(False)`` turns it off (the original's
    ``EnableDropouts``); a net built or loaded has it on.
    ``one_mask_per_batch`` is kept for the text (it only matters in the
    original's batch mode).

    Raises
    ------
    TypeError, ValueError
        A rate that is not a real number, or whose ``1 / rate`` is beyond
        the original's integer range.
    """
    kind = "dropout"
    activation = "identity"

    def __init__(self, rate, one_mask_per_batch=1):
        if isinstance(rate, (bool, str, bytes)) or not isinstance(rate, (int, float, np.number)):
            raise TypeError(f"TNNetDropout: rate must be a real number, got "
                            f"{type(rate).__name__}")
        rate = float(rate)
        if not np.isfinite(rate) or (rate > 0 and not 1 / rate < 2 ** 31 - 0.5):
            raise ValueError(f"TNNetDropout: rate {rate} gives no integer 1 / rate")
        # Pascal's Round: to the nearest integer, ties to even (as Python's).
        draws = round(1 / rate) if rate > 0 else -1
        super().__init__(draws, int(one_mask_per_batch))
        self._consts = np.array([draws, 1 if draws > 0 else 0], dtype=_F32)
        self._mask = None

    @classmethod
    def from_struct_ints(cls, ints):
        """``TNNetDropout(1 / ints[0], ints[1])``, as the original's loader
        (ValueError for ``ints[0] = 0``, a division by zero there)."""
        if ints[0] == 0:
            raise ValueError("TNNetDropout: the text's rate integer is 0 (1 / 0)")
        return cls(1 / ints[0], ints[1])

    @property
    def rate(self):
        """``1 / R``: the fraction of values dropped (0 when disabled for good)."""
        return 1 / self._ints[0] if self._ints[0] > 0 else 0.0

    @property
    def enabled(self):
        """Whether ``compute`` drops values now (``TNNet.enable_dropouts``)."""
        return bool(self._consts[1])

    @enabled.setter
    def enabled(self, flag):
        self._consts[1] = 1 if flag and self._ints[0] > 0 else 0

    def _kernel_consts(self):
        return self._consts

    def _scratch(self, prev_shape):
        return 4 * prev_shape[0] * prev_shape[1] * prev_shape[2]     # the mask

    def _attach(self, prev, index, rng):
        super()._attach(prev, index, rng)
        self._mask = TNNetVolume(*self.output.shape)._pin()

    def _kernel_spec(self):
        spec = list(super()._kernel_spec())
        spec[14] = self._mask.data
        return tuple(spec)

    def keep_masks(self, draws):
        """The kept (True) / dropped values of rows of raw 32-bit ``draws``
        (samples x size), as ``compute`` decides them: ``Random(R) = 0``
        drops."""
        return ((draws.astype(np.uint64) * np.uint64(self._ints[0])) >> np.uint64(32)) != 0

    def forward_batch(self, h, keep=None):
        """``h`` itself, or with the values ``keep`` (a bool array of its
        shape, from ``keep_masks``) does not keep set to +0."""
        if keep is None:
            return h
        return np.where(keep, h, _F32(0)).astype(_F32)

    def __repr__(self):
        return f"{self.class_name}({self.rate:g}, {self._ints[1]})"
