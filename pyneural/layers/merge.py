"""The layers that read several layers: ``TNNetSum``, ``TNNetConcat`` and
``TNNetDeepConcat``.

Each takes, as in Pascal, the layers it reads (layers already in the net it
is added to), in order. Their indices are its ``links`` and are written in
the `.nn` structure (``TNNetSum:0;...:3;1:...``). The layer before it in the
net is its ``prev`` (what the structure's ``P)`` says), which it does not
read. In the backward pass a sum adds its error to every layer it reads, a
depth concatenation adds each layer's channels' error, and a flat
concatenation *copies* each layer's part of the error (the original's
quirk: error another branch passed that layer before is overwritten).
"""
import numpy as np

from .base import TNNetLayer, _F32


def _fmt(shape):
    return "x".join(str(s) for s in shape)


class _Merge(TNNetLayer):
    merges = True

    def __init__(self, layers, ints=(0,) * 8):
        cls = type(self).__name__
        if isinstance(layers, TNNetLayer) or isinstance(layers, (str, bytes)):
            raise TypeError(f"{cls} takes a list of layers, got one {type(layers).__name__}")
        try:
            layers = list(layers)
        except TypeError:
            raise TypeError(f"{cls} takes a list of layers, got "
                            f"{type(layers).__name__}") from None
        if not layers:
            raise ValueError(f"{cls} needs at least one layer to read")
        for layer in layers:
            if not isinstance(layer, TNNetLayer):
                raise TypeError(f"{cls} reads layers, got {type(layer).__name__}")
        super().__init__(ints)
        self._link_layers = tuple(layers)
        if all(layer.index is not None for layer in layers):
            # Added by hand: refuse at once what the net would refuse.
            self._output_shape([tuple(l.output.shape) for l in layers])

    @classmethod
    def from_spec(cls, ints, floats, link_layers):
        """The class on the layers the `.nn` text links it to."""
        if not link_layers:
            raise ValueError(f"{cls.__name__} needs the layers it reads (the text links none)")
        return cls(link_layers)

    def _link_names(self):
        return ", ".join(f"layer {l.index}" if l.index is not None else l.class_name
                         for l in self._link_layers)

    def __repr__(self):
        return f"{self.class_name}([{self._link_names()}])"


class TNNetSum(_Merge):
    """The element-wise sum of layers of one shape: ``TNNetSum([a, b, ...])``.

    Forward: a copy of the first, then each further one added in order.
    Backward: the error is clipped to a largest magnitude of 100 (as a
    convolution clips its error), then added to each layer read.

    Raises
    ------
    ValueError
        No layers, or layers of different shapes (the message names them).
    TypeError
        Something that is not a list of layers.
    """
    kind = "sum"
    activation = "identity"

    def forward_batch(self, inputs):
        """The sum of ``inputs`` (one samples x size array per layer read)."""
        out = np.array(inputs[0], dtype=_F32, copy=True)
        for h in inputs[1:]:
            out += h
        return out

    def _output_shape(self, link_shapes):
        first = link_shapes[0]
        for i, shape in enumerate(link_shapes):
            if tuple(shape) != tuple(first):
                raise ValueError(f"TNNetSum: the layers it adds have different shapes: "
                                 f"{_fmt(first)} ({self._link_layers[0].class_name}) and "
                                 f"{_fmt(shape)} ({self._link_layers[i].class_name}, input {i})")
        return tuple(first)


class TNNetConcat(_Merge):
    """The flat concatenation of layers: ``TNNetConcat([a, b, ...])``, or
    ``TNNetConcat(size_x, size_y, depth, [a, b, ...])`` to give the output
    that shape (it must hold all the values).

    The output is each layer's output, flat, one after the other (a
    ``total x 1 x 1`` volume by default). Backward: each layer read gets its
    part of the error *copied* into its error buffer (the original's
    SplitFrom), so error another branch passed it before is lost; a
    ``TNNetInput`` read by it collects error from then on.

    Raises
    ------
    ValueError
        No layers, or a shape that does not hold the values.
    TypeError
        Something that is not a list of layers.
    """
    kind = "concat"
    activation = "identity"
    makes_inputs_collect = True

    def __init__(self, *args):
        if len(args) == 1:
            sizes, layers = (0, 0, 0), args[0]
        elif len(args) == 4:
            sizes, layers = args[:3], args[3]
        else:
            raise TypeError("TNNetConcat takes ([layers]) or (size_x, size_y, depth, [layers]), "
                            f"got {len(args)} arguments")
        try:
            sizes = tuple(int(s) for s in sizes)
        except (TypeError, ValueError):
            raise TypeError(f"TNNetConcat: sizes must be integers, got {sizes!r}") from None
        super().__init__(layers, sizes)

    @classmethod
    def from_spec(cls, ints, floats, link_layers):
        """``TNNetConcat(*ints[:3], layers)``, as the original's loader."""
        if not link_layers:
            raise ValueError("TNNetConcat needs the layers it reads (the text links none)")
        return cls(ints[0], ints[1], ints[2], link_layers)

    def _output_shape(self, link_shapes):
        total = sum(s[0] * s[1] * s[2] for s in link_shapes)
        sx, sy, d = self._ints[:3]
        if sx > 0 and sy > 0 and d > 0:
            if sx * sy * d != total:
                raise ValueError(f"TNNetConcat: an output of {sx}x{sy}x{d} cannot hold the "
                                 f"{total} values of the layers it reads")
            return (sx, sy, d)
        return (total, 1, 1)

    def forward_batch(self, inputs):
        """The rows of ``inputs`` (one samples x size array per layer read)
        side by side."""
        return np.concatenate([np.asarray(h, dtype=_F32) for h in inputs], axis=1)

    def __repr__(self):
        sizes = "" if not any(self._ints[:3]) else ", ".join(map(str, self._ints[:3])) + ", "
        return f"{self.class_name}({sizes}[{self._link_names()}])"


class TNNetDeepConcat(_Merge):
    """The concatenation of layers along the depth (channels):
    ``TNNetDeepConcat([a, b, ...])``, all of the same ``size_x x size_y``.

    Output cell ``(x, y)`` holds the first layer's channels, then the
    second's, and so on. Backward: each layer read gets its channels' error
    added; a ``TNNetInput`` read by it collects error from then on.

    Raises
    ------
    ValueError
        No layers, or layers whose planes differ.
    TypeError
        Something that is not a list of layers.
    """
    kind = "deepconcat"
    activation = "identity"
    makes_inputs_collect = True

    def _output_shape(self, link_shapes):
        sx, sy = link_shapes[0][:2]
        for i, shape in enumerate(link_shapes):
            if tuple(shape[:2]) != (sx, sy):
                raise ValueError(f"TNNetDeepConcat: the layers it stacks have different planes: "
                                 f"{sx}x{sy} ({self._link_layers[0].class_name}) and "
                                 f"{shape[0]}x{shape[1]} ({self._link_layers[i].class_name}, "
                                 f"input {i})")
        return (sx, sy, sum(s[2] for s in link_shapes))

    def _kernel_geometry(self, prev):
        return tuple(self.output.shape)

    def forward_batch(self, inputs):
        """Every cell's channels of ``inputs`` (one samples x size array per
        layer read) stacked in order."""
        n = len(inputs[0])
        sx, sy, _ = self.output.shape
        parts = [np.asarray(h, dtype=_F32).reshape(n, sx * sy, -1) for h in inputs]
        return np.concatenate(parts, axis=2).reshape(n, -1)

