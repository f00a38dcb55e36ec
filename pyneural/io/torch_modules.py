"""Torch modules: ``from_torch`` (an ``nn.Sequential`` to a new net) and
``to_torch`` (a net to an ``nn.Sequential``), in the layout of
``state_dict``. torch is imported here only, and only when one of them is
called."""
from ..layers import (TNNetConvolution, TNNetConvolutionLinear, TNNetConvolutionReLU,
                      TNNetFullConnectLinear, TNNetInput, TNNetMaxPool, TNNetSoftMax)
from ..net import TNNet
from .errors import FormatError
from .state_dict import (_FOLDED, _WEIGHTLESS, _fill, _net_for_modules, _sequential,
                         to_state_dict)
from .tensors import _checked_tensors

# A Conv2d followed by one of these is one convolution layer of that class.
_CONV_FOLDED = {"relu": TNNetConvolutionReLU, "tanh": TNNetConvolution}
# Module kind -> torch.nn class name (both directions of the conversion).
_TORCH_MODULES = {"linear": "Linear", "relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid",
                  "identity": "Identity", "softmax": "Softmax", "conv2d": "Conv2d",
                  "maxpool2d": "MaxPool2d", "flatten": "Flatten"}


def _import_torch(what):
    try:
        import torch
    except ImportError:
        raise ImportError(f"{what} needs PyTorch: pip install torch (or "
                          "pip install 'pyneural[torch]')") from None
    return torch


def _torch_pool_ceil_mode(pool, stride, padding, sx, sy, where, modes=(False, True)):
    """The ``ceil_mode`` (of ``modes``) with which torch's
    ``MaxPool2d(pool, stride)`` gives pyneural's output size on an
    ``sx x sy`` input (pyneural clips the last window, ``ceil((in + 2 *
    padding) / stride)``); FormatError when none does, or with padding
    (pyneural pads with zeros, torch with -inf)."""
    if padding:
        raise FormatError(f"{where}: a max-pool with padding {padding}: pyneural pads with "
                          "zeros, torch's MaxPool2d with -inf")

    def torch_size(n, ceil):
        if not ceil:
            return (n - pool) // stride + 1
        out = -(-(n - pool) // stride) + 1
        return out - 1 if (out - 1) * stride >= n else out

    ours = [-(-sx // stride), -(-sy // stride)]
    for ceil in modes:
        if [torch_size(sx, ceil), torch_size(sy, ceil)] == ours:
            return ceil
    got = " or ".join(f"{torch_size(sx, c)}x{torch_size(sy, c)} (ceil_mode={c})" for c in modes)
    raise FormatError(f"{where}: a {pool}x{pool} max-pool at stride {stride} on {sx}x{sy} gives "
                      f"{ours[0]}x{ours[1]} in pyneural (the last window clipped), but {got} in "
                      "torch's MaxPool2d")


def _square(value, what, where):
    """One int from an int or an (a, a) pair; FormatError otherwise."""
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise FormatError(f"{where}: {what} {tuple(value)} is not square; pyneural's are")
        value = value[0]
    return int(value)


def _torch_conv_layer(m, after, shape, where):
    """The pyneural convolution for a torch ``Conv2d`` on a volume of
    ``shape`` (FormatError for what pyneural's cannot compute). A kernel of
    two sizes is the clamp of a square one to a smaller input: (2, 3) on an
    input 2 high is pyneural's kernel 3."""
    if m.padding_mode != "zeros":
        raise FormatError(f"{where}: padding_mode={m.padding_mode!r}; pyneural pads with zeros")
    if _square(m.dilation, "dilation", where) != 1:
        raise FormatError(f"{where}: dilation {m.dilation}; pyneural's convolutions have none")
    if m.groups != 1:
        raise FormatError(f"{where}: groups={m.groups}; pyneural's convolutions see every "
                          "input channel")
    padding = m.padding
    if isinstance(padding, str):
        if padding != "valid":
            raise FormatError(f"{where}: padding={padding!r}; give the padding as a number")
        padding = 0
    sx, sy, depth = shape
    if m.in_channels != depth:
        raise FormatError(f"{where}: {m.in_channels} input channels, but its input has {depth}")
    kh, kw = m.kernel_size
    size = max(kh, kw)
    if (min(size, sy), min(size, sx)) != (kh, kw):
        raise FormatError(f"{where}: kernel {(kh, kw)} on an input {sy} high and {sx} wide: "
                          "pyneural's kernels are square, clamped to the unpadded input (a "
                          f"kernel of {size} is {min(size, sy)} high and {min(size, sx)} wide "
                          "there)")
    cls = _CONV_FOLDED.get(after, TNNetConvolutionLinear)
    return cls(m.out_channels, size,
               _square(padding, "padding", where), _square(m.stride, "stride", where),
               0 if m.bias is not None else 1)


def _torch_pool_layer(m, shape, where):
    """The pyneural max-pool for a torch ``MaxPool2d`` on a volume of
    ``shape`` (FormatError for what pyneural's cannot compute)."""
    if m.return_indices:
        raise FormatError(f"{where}: return_indices=True has no pyneural counterpart")
    if _square(m.dilation, "dilation", where) != 1:
        raise FormatError(f"{where}: dilation {m.dilation}; pyneural's max-pool has none")
    pool = _square(m.kernel_size, "kernel", where)
    stride = _square(m.stride if m.stride is not None else pool, "stride", where)
    padding = _square(m.padding, "padding", where)
    _torch_pool_ceil_mode(pool, stride, padding, shape[0], shape[1], where, (m.ceil_mode,))
    return TNNetMaxPool(pool, stride, padding)


_TORCH_SUPPORTED = ("Linear, Conv2d (zeros padding, no dilation, groups 1), MaxPool2d, "
                    "Flatten, ReLU, Tanh, Sigmoid, Identity and Softmax")


def _net_for_torch_conv(mods, input_shape, state, generator):
    """A new net for a torch Sequential with convolutions or max-pools, on
    NCHW images of ``input_shape`` (channels, height, width), holding the
    tensors of ``state`` (checked once every module has a counterpart)."""
    torch = _import_torch("from_torch")
    try:
        depth, height, width = (int(v) for v in input_shape)
    except (TypeError, ValueError):
        raise FormatError("torch module: a Conv2d / MaxPool2d needs input_shape=(channels, "
                          f"height, width), got {input_shape!r}") from None
    if min(depth, height, width) < 1:
        raise FormatError(f"torch module: input_shape {input_shape!r} has a size below 1")
    net = TNNet(generator)
    net._append(TNNetInput(width, height, depth), None)
    # flatten: where the Flatten after the spatial layers is, None before one
    layout, spatial, flat, flatten, i = [], False, False, None, 0
    while i < len(mods):
        m, name = mods[i], type(mods[i]).__name__
        where = f"module {i} ({name})"
        nxt = mods[i + 1] if i + 1 < len(mods) else None
        # Exact classes only: a subclass may compute something else.
        after = (type(nxt).__name__.lower()
                 if nxt is not None and type(nxt) is getattr(torch.nn, type(nxt).__name__, None)
                 else None)
        shape = net.layers[-1].output.shape
        step = 1
        try:
            if name in ("Conv2d", "MaxPool2d", "Flatten", "Linear") \
                    and type(m) is not getattr(torch.nn, name):
                raise FormatError(f"{where} is a subclass of torch's {name}: it may compute "
                                  "something else")
            if name in ("Conv2d", "MaxPool2d"):
                if flat:
                    raise FormatError(f"{where} follows a Linear: no pyneural counterpart")
                if name == "Conv2d":
                    layer = _torch_conv_layer(m, after, shape, where)
                    step = 2 if after in _CONV_FOLDED else 1
                else:
                    layer = _torch_pool_layer(m, shape, where)
                net._append(layer, None)
                spatial = True
                if name == "Conv2d":
                    layout.append((layer, f"{i}.weight", f"{i}.bias" if m.bias is not None
                                   else None, None))
            elif name == "Flatten":
                if (m.start_dim, m.end_dim) != (1, -1):
                    raise FormatError(f"{where}: start_dim={m.start_dim}, end_dim={m.end_dim}; "
                                      "only Flatten() (1, -1) is supported")
                if spatial and not flat and flatten is None:
                    flatten = where
            elif name == "Linear":
                flat_from = None
                if spatial and not flat:
                    if flatten is None:
                        raise FormatError(f"{where} after a Conv2d / MaxPool2d needs a Flatten "
                                          "before it")
                    flat_from = tuple(shape)
                if m.in_features != shape[0] * shape[1] * shape[2]:
                    raise FormatError(f"{where}: {m.in_features} inputs, but its input has "
                                      f"{shape[0] * shape[1] * shape[2]} values")
                flat = True
                cls = _FOLDED.get(after, TNNetFullConnectLinear)
                step = 2 if after in _FOLDED else 1
                layer = net._append(cls(m.out_features, 0 if m.bias is not None else 1), None)
                layout.append((layer, f"{i}.weight", f"{i}.bias" if m.bias is not None else None,
                               flat_from))
            elif name == "Softmax":
                if spatial and not flat:
                    raise FormatError(f"{where} over a 3-D volume: no pyneural counterpart")
                if m.dim not in (-1, 1):
                    raise FormatError(f"{where}: Softmax(dim={m.dim}); pyneural's softmax is "
                                      "over the last dimension (dim=-1)")
                net._append(TNNetSoftMax(), None)
            else:
                kind = name.lower()
                if kind not in _WEIGHTLESS or type(m) is not getattr(torch.nn, name):
                    raise FormatError(f"{where} has no pyneural layer: only {_TORCH_SUPPORTED} "
                                      "are supported")
                net._append(_WEIGHTLESS[kind](), None)
        except ValueError as exc:
            if isinstance(exc, FormatError):
                raise
            raise FormatError(f"{where}: {exc}") from None
        i += step
    if len(net.layers) < 2:
        raise FormatError("torch module: no layers")
    if flatten is not None and not flat:
        raise FormatError(
            f"{flatten} ends the module's spatial part with no Linear after it: torch "
            "flattens the images in (channel, y, x) order, pyneural's output rows are in (y, "
            "x, channel) order and no pyneural layer reorders them. Drop the Flatten (the "
            "output rows are then the images: images_from_rows gives them in NCHW) or end "
            "with a Linear")
    # bias-less layers store a zero bias, as pyneural's suppress_bias layers
    return _fill(net, layout, _checked_tensors(state, "torch module"), "torch module")


def from_torch(module, generator=None, input_shape=None):
    """A new TNNet with the weights of a torch ``nn.Sequential``.

    Parameters
    ----------
    module : torch.nn.Sequential
        Of ``Linear``, ``Conv2d`` (zeros padding, dilation 1, groups 1,
        square kernels and strides), ``MaxPool2d``, ``Flatten``, ``ReLU``,
        ``Tanh``, ``Sigmoid``, ``Identity`` and ``Softmax`` (over the last
        dimension) modules. A Linear (Conv2d) followed by ReLU / Tanh
        (/ Sigmoid) becomes one fully-connected (convolution) layer of that
        activation; other activation modules become weightless layers. A
        Linear or Conv2d without bias becomes a ``suppress_bias`` layer.
    generator : pyneural.rng.FPCRandom, optional
        As in ``from_state_dict``.
    input_shape : (int, int, int), optional
        ``(channels, height, width)`` of the NCHW images the module takes;
        needed (only) when it has a Conv2d or MaxPool2d.

    Returns
    -------
    TNNet
        For a convolutional module, it computes on ``image_rows(images)``
        what the module computes on ``images`` (within float32 rounding);
        a module that ends in a Conv2d or MaxPool2d (and its activation)
        gives images, and the net the rows ``image_rows`` makes of them.

    Raises
    ------
    ImportError
        torch is not installed.
    TypeError
        ``module`` is not an ``nn.Sequential``.
    FormatError
        A module with no pyneural counterpart (BatchNorm, AvgPool2d, a
        Conv2d with another padding mode, dilation or groups, a MaxPool2d
        whose windows pyneural's cannot reproduce...: the message names the
        module), a Softmax over another dimension, a Flatten after a
        Conv2d / MaxPool2d with no Linear after it (torch's outputs would be
        in (channel, y, x) order, pyneural's rows are (y, x, channel): the
        message names the Flatten), no ``input_shape`` for a
        convolutional module, or tensors ``from_state_dict`` would refuse
        (bfloat16 ones included: convert with ``module.float()``).
    """
    torch = _import_torch("from_torch")
    if not isinstance(module, torch.nn.Sequential):
        raise TypeError(f"from_torch() needs an nn.Sequential, got {type(module).__name__}")
    mods = list(module)
    state = {key: t.detach().cpu() for key, t in module.state_dict().items()}
    if any(type(m) in (torch.nn.Conv2d, torch.nn.MaxPool2d) for m in mods):
        return _net_for_torch_conv(mods, input_shape, state, generator)
    kind_of = {name: kind for kind, name in _TORCH_MODULES.items()}
    kinds = []
    for i, m in enumerate(mods):
        name = type(m).__name__
        if type(m) is torch.nn.Flatten:
            continue                     # pyneural's rows are flat already
        # Exact classes only: a subclass may compute something else.
        if name not in kind_of or type(m) is not getattr(torch.nn, name):
            raise FormatError(f"module {i} ({name}) has no pyneural layer: only "
                              f"{_TORCH_SUPPORTED} are supported")
        if name == "Softmax" and m.dim not in (-1, 1):
            raise FormatError(f"module {i}: Softmax(dim={m.dim}); pyneural's softmax is over "
                              "the last dimension (dim=-1)")
        kinds.append(kind_of[name])
    return _net_for_modules(kinds, _checked_tensors(state, "torch module"), "torch module",
                            generator)


def to_torch(net):
    """The net as a torch ``nn.Sequential`` (float32, on the CPU).

    Parameters
    ----------
    net : TNNet

    Returns
    -------
    torch.nn.Sequential
        Its ``state_dict()`` has the keys and values of ``to_state_dict``.
        A net without convolutions takes rows of ``input_size`` values in
        pyneural's flat order; a convolutional net takes NCHW images
        (``images_from_rows``), and one that ends in a convolution or
        max-pool gives NCHW images (``images_from_rows`` of its output
        rows; no Flatten, which would order them (channel, y, x), not as
        pyneural's rows). Outputs agree within float32 rounding
        (torch sums in its own order; pyneural's tanh clamps its input to
        +-10; its softmax of a row of equal values is zeros, torch's is
        uniform; its max-pool floors at -1e6).

    Raises
    ------
    ImportError
        torch is not installed.
    FormatError
        A net with no ``nn.Sequential`` counterpart: a convolution after a
        fully-connected layer, a softmax over a 3-D volume, a max-pool
        with padding or whose clipped border windows torch cannot
        reproduce.
    """
    torch = _import_torch("to_torch")
    modules = []
    for kind, layer, _ in _sequential(net):
        if kind == "linear":
            modules.append(torch.nn.Linear(layer.fan_in, layer.neurons,
                                           bias=not layer.suppress_bias, dtype=torch.float32))
        elif kind == "conv2d":
            modules.append(torch.nn.Conv2d(layer.input_shape[2], layer.neurons,
                                           (layer.feature_size_y, layer.feature_size_x),
                                           stride=layer.stride,
                                           padding=layer.input_padding,
                                           bias=not layer.suppress_bias, dtype=torch.float32))
        elif kind == "maxpool2d":
            sx, sy, _ = layer.input_shape
            where = f"layer {layer.index} ({layer.class_name})"
            ceil = _torch_pool_ceil_mode(layer.pool_size, layer.stride, layer.padding, sx, sy,
                                         where)
            modules.append(torch.nn.MaxPool2d(layer.pool_size, layer.stride, ceil_mode=ceil))
        elif kind == "softmax":
            modules.append(torch.nn.Softmax(dim=-1))
        else:
            modules.append(getattr(torch.nn, _TORCH_MODULES[kind])())
    model = torch.nn.Sequential(*modules)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in to_state_dict(net).items()})
    return model
