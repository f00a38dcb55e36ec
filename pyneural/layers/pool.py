"""The original's average pooling and its two global channel poolings.

- ``TNNetAvgPool(pool_size)``: windows of ``pool_size x pool_size`` at
  stride ``pool_size``, output ``ceil(in / pool_size)``; each output is its
  window's sum divided by ``pool_size**2``, also for a window clipped at
  the border (the original's quirk).
- ``TNNetAvgChannel()``: an average pool whose window is the input's width
  (``size_x``), so an input taller than wide keeps ``ceil(size_y /
  size_x)`` rows (the original's quirk; square inputs average to 1x1).
- ``TNNetMaxChannel()``: the maximum of each channel over the whole plane,
  1x1xdepth.

The two channel poolings write ``2;2;0`` as their structure integers, as
the original does; their real window is set when they are attached.
"""
from .base import TNNetLayer
from .conv import _Spatial, _int_arg, _rows

__all__ = ["TNNetAvgPool", "TNNetAvgChannel", "TNNetMaxChannel"]


class _KernelPool(_Spatial, TNNetLayer):
    activation = "identity"
    _arity = 1

    def _window(self):
        size = self._window_size()
        return (size, size, 0, size)

    def _scratch(self, prev_shape):
        # What _conv_alloc allocates for a pooling: the winning cell's x and
        # y (int32) per output (a channel maximum remembers them).
        ox, oy, d = self._output_shape(prev_shape)
        return 8 * ox * oy * d

    def _output_shape(self, prev_shape):
        sx, sy, d = self._input(prev_shape)
        size = self._window_size(prev_shape)
        return (-(-sx // size), -(-sy // size), d)

    def forward_batch(self, h):
        """The pooled rows (samples x output volume, raw order) of rows
        ``h``, by the per-sample kernel (the same bits)."""
        return self._kernel_rows(_rows(self, h), self.output.size)


class TNNetAvgPool(_KernelPool):
    """Average pooling per channel: ``TNNetAvgPool(pool_size)`` (stride
    ``pool_size``, no padding).

    Raises
    ------
    ValueError
        ``pool_size`` below 1.
    TypeError
        A non-integer argument.
    """
    kind = "avgpool"

    def __init__(self, pool_size):
        pool_size = _int_arg(self, "pool_size", pool_size, 1)
        super().__init__((pool_size, pool_size, 0))

    def _window_size(self, prev_shape=None):
        return self._ints[0]

    def __repr__(self):
        return f"{self.class_name}({self._ints[0]})"


class _ChannelPool(_KernelPool):
    _arity = 0

    def __init__(self):
        super().__init__((2, 2, 0))

    def __repr__(self):
        return f"{self.class_name}()"


class TNNetAvgChannel(_ChannelPool):
    """The average of each channel: ``TNNetAvgChannel()``, an average pool
    whose window is the input's width (see the module's docstring for
    inputs taller than wide)."""
    kind = "avgpool"

    def _window_size(self, prev_shape=None):
        return (prev_shape or self._in_shape)[0]


class TNNetMaxChannel(_ChannelPool):
    """The maximum of each channel over the plane: ``TNNetMaxChannel()``,
    output ``1 x 1 x depth``. Backward sends each channel's error to the
    first cell (rows, then columns) that held the maximum."""
    kind = "maxchannel"

    def _window_size(self, prev_shape=None):
        return max((prev_shape or self._in_shape)[:2])
