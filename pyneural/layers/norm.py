"""The original's two trainable normalisations.

Both keep their numbers in neurons, as the original does, so they save,
load, snapshot and interpolate like any weighted layer, but they learn by
their own rules (below), not by the error:

- ``TNNetMovingStdNormalization``: one neuron of three weights, ``[mean,
  standard deviation, count]``; the output is ``(x - mean) / std`` (the
  division only when ``std > 0`` and ``std != 1``).
- ``TNNetChannelStdNormalization``: two neurons of ``depth`` weights, a
  shift and a scale per channel; the output is ``(x + shift) * scale``.

docs/SEMANTICS.md ("Nets with branches") gives their update rules.
"""
import numpy as np

from .base import _Weighted, _F32

__all__ = ["TNNetMovingStdNormalization", "TNNetChannelStdNormalization"]


class _Normalization(_Weighted):
    activation = "identity"
    suppress_bias = False

    def __init__(self):
        super().__init__((0,) * 8)

    def _output_shape(self, prev_shape):
        return prev_shape

    def split(self, params):
        """``(weights, bias)`` views of a flat array in this layer's layout
        ``[W | bias]``, weights ``(neurons, K)`` neuron-major."""
        n = self.neurons
        return params[: params.size - n].reshape(n, -1), params[params.size - n:]

    def neuron_volume_shape(self):
        """``(1, 1, K)``: each neuron's weights are a depth vector in the text."""
        return (1, 1, self.fan_in)

    def init_default(self, rng):
        """The original's InitDefault: fixed starting values, no draws
        (``rng`` is not used); momentum is zeroed."""
        self.params.fill(0)
        self._start(self.weights)
        self.momentum.fill(0)

    def forward_batch(self, h, weights=None, bias=None):
        """The normalised rows of ``h`` (samples x size) with ``weights``
        (default the layer's own), by the per-sample kernel (same bits)."""
        w = self.weights if weights is None else weights
        b = self.bias if bias is None else bias
        params = np.ascontiguousarray(np.concatenate([np.ravel(w), np.ravel(b)]), dtype=_F32)
        return self._kernel_rows(h, self.output.size, params)

    def __repr__(self):
        return f"{self.class_name}()"


class TNNetMovingStdNormalization(_Normalization):
    """Zero-centring and scaling by a learned mean and standard deviation:
    ``TNNetMovingStdNormalization()``.

    Forward: ``(x - mean) / std``, ``std`` only when positive and not 1.
    Backward: the input's mean and root mean square move the weights as
    moving averages (``M = 0.99 M + 0.01 D; W = W + M`` on ``D = [mean,
    rms, 1]``, whatever the learning rate), then the error is divided by
    the old ``std`` when above 1 and passed on.
    """
    kind = "moving_std"
    neurons = 1

    def _weights_per_neuron(self, prev_shape):
        return 3

    @staticmethod
    def _start(weights):
        weights[0] = (0, 1, 0)


class TNNetChannelStdNormalization(_Normalization):
    """Per-channel shift and scale: ``TNNetChannelStdNormalization()``.

    Forward: ``(x + shift[c]) * scale[c]`` for channel ``c``. Backward:
    the scale moves towards a unit root mean square of the output (its
    step ``-lr * 0.01 / cells`` times ``rms - 1``), the error is multiplied
    by the new scale capped at 1, the shift moves towards a zero channel
    sum (step ``-lr / cells`` times the sum), both with the layer's
    inertia; then the error is passed on.
    """
    kind = "channel_std"
    neurons = 2

    def _weights_per_neuron(self, prev_shape):
        return prev_shape[2]

    @staticmethod
    def _start(weights):
        weights[0] = 0
        weights[1] = 1

    def _scratch(self, prev_shape):
        return 8 * prev_shape[2]          # the kernel's per-channel sums and steps

    def _attach(self, prev, index, rng):
        self._in_shape = tuple(prev.output.shape)
        super()._attach(prev, index, rng)

    def _kernel_geometry(self, prev):
        return tuple(self._in_shape)
