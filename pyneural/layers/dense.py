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

from .base import TNNetLayer, _Weighted, _check_elements, _sizes, _F32

__all__ = [
    "TNNetFullConnectLinear", "TNNetFullConnectReLU", "TNNetFullConnect",
    "TNNetFullConnectSigmoid", "TNNetReLU", "TNNetSigmoid", "TNNetHyperbolicTangent",
    "TNNetIdentity", "TNNetSoftMax",
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
