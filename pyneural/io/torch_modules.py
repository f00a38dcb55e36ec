"""Torch modules: ``from_torch`` (a torch model, traced with ``torch.fx``,
to a new net) and ``to_torch`` (a net to an ``nn.Sequential``, or to a
``torch.fx.GraphModule`` when it has branches), in the layout of
``state_dict``. torch is imported here only, and only when one of them is
called."""
import inspect
import operator
import warnings
from typing import NamedTuple

import numpy as np

from ..layers import (TNNetAvgChannel, TNNetAvgPool, TNNetChannelStdNormalization, TNNetConcat,
                      TNNetConvolution, TNNetConvolutionLinear, TNNetConvolutionReLU,
                      TNNetDeepConcat, TNNetDropout, TNNetFullConnectLinear, TNNetInput,
                      TNNetLeakyReLU, TNNetMaxChannel, TNNetMaxPool, TNNetMovingStdNormalization,
                      TNNetReLU6, TNNetSELU, TNNetSoftMax, TNNetSum, TNNetSwish)
from ..net import TNNet
from .errors import FormatError
from .state_dict import (_FOLDED, _WEIGHTLESS, _fill, _kernel_size, _torch_plan, _chw_columns,
                         to_state_dict)
from .tensors import _checked_tensors, _require_finite

# A Conv2d followed by one of these is one convolution layer of that class.
_CONV_FOLDED = {"relu": TNNetConvolutionReLU, "tanh": TNNetConvolution}
# Module kinds of the plan (state_dict._torch_plan) made by a torch.nn class
# without arguments.
_PLAIN_MODULES = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "identity": "Identity",
                  "flatten": "Flatten", "silu": "SiLU"}
# The torch.nn classes from_torch reads, and what it says it reads.
_TORCH_CLASSES = ("Linear", "Conv2d", "BatchNorm2d", "MaxPool2d", "AvgPool2d",
                  "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Flatten", "ReLU", "LeakyReLU",
                  "ReLU6", "SiLU", "SELU", "Tanh", "Sigmoid", "Identity", "Dropout", "Softmax")
_HELPER_CLASSES = ("PascalSELU", "MovingStdNormalization", "ChannelStdNormalization")
_TORCH_SUPPORTED = ("Linear, Conv2d (zeros padding, no dilation, groups 1), BatchNorm2d (eval "
                    "mode, right after a Conv2d), MaxPool2d, AvgPool2d, AdaptiveAvgPool2d(1), "
                    "AdaptiveMaxPool2d(1), Flatten, ReLU, LeakyReLU, ReLU6, SiLU, SELU, Tanh, "
                    "Sigmoid, Identity, Dropout and Softmax modules or their functions, + "
                    "(operator.add, torch.add) and torch.cat")


def _import_torch(what):
    try:
        import torch
        import torch.fx
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


# ------------------------------------------------------------- to_torch --

def _avg_pool_module(nn, size, sx, sy):
    """torch's module for pyneural's average pool of ``size`` on ``sx x
    sy``: windows side by side, a clipped border window divided by
    ``size**2`` as pyneural does (``divisor_override``)."""
    if sx % size or sy % size:
        return nn.AvgPool2d(size, ceil_mode=True, divisor_override=size * size)
    return nn.AvgPool2d(size)


def _torch_module(torch, helpers, step):
    """The torch module of a plan step (``state_dict._Step``)."""
    nn, layer, kind = torch.nn, step.layer, step.kind
    if kind in _PLAIN_MODULES:
        return getattr(nn, _PLAIN_MODULES[kind])()
    where = f"layer {layer.index} ({layer.class_name})"
    if kind == "linear":
        return nn.Linear(layer.fan_in, layer.neurons, bias=not layer.suppress_bias)
    if kind == "conv2d":
        return nn.Conv2d(layer.input_shape[2], layer.neurons, _kernel_size(layer),
                         stride=layer.stride, padding=layer.input_padding,
                         bias=not layer.suppress_bias)
    if kind == "maxpool2d":
        sx, sy, _ = layer.input_shape
        ceil = _torch_pool_ceil_mode(layer.pool_size, layer.stride, layer.padding, sx, sy, where)
        return nn.MaxPool2d(layer.pool_size, layer.stride, ceil_mode=ceil)
    if kind == "avgpool2d":
        return _avg_pool_module(nn, layer.struct_ints()[0], *layer.input_shape[:2])
    if kind == "avgchannel":
        sx, sy, _ = layer.input_shape
        # A window of the input's width: a square plane's mean, else rows of
        # sx x sx windows divided by sx**2 (the original's quirk).
        return nn.AdaptiveAvgPool2d(1) if sx == sy else _avg_pool_module(nn, sx, sx, sy)
    if kind == "adaptivemaxpool2d":
        return nn.AdaptiveMaxPool2d(1)
    if kind == "softmax":
        return nn.Softmax(dim=-1)
    if kind == "leakyrelu":
        return nn.LeakyReLU(layer.alpha)
    if kind == "relu6":
        if layer.struct_ints()[2]:
            raise FormatError(f"{where}: leakiness {layer.struct_ints()[2]}; torch's ReLU6 has "
                              "none")
        return nn.ReLU6()
    if kind == "dropout":
        return nn.Dropout(layer.rate)
    if kind == "selu":
        return helpers.PascalSELU()
    if kind == "movingstd":
        return helpers.MovingStdNormalization()
    if kind == "channelstd":
        return helpers.ChannelStdNormalization(layer.fan_in, step.image)
    raise AssertionError(f"no torch module for plan kind {kind!r}")


def _graph_module(torch, steps, modules, last):
    """A ``torch.fx.GraphModule`` computing ``steps``, returning step ``last``."""
    graph = torch.fx.Graph()
    values = []
    for step in steps:
        args = [values[i] for i in step.reads]
        if step.kind == "input":
            value = graph.placeholder("x")
        elif step.name is not None:
            value = graph.call_module(step.name, (args[0],))
        elif step.kind == "add":
            value = args[0]
            for arg in args[1:]:         # in the links' order, as TNNetSum adds
                value = graph.call_function(operator.add, (value, arg))
        elif step.kind == "cat":
            value = graph.call_function(torch.cat, (args,), {"dim": 1})
        else:                            # "rows": an image as rows in pyneural's raw order
            value = graph.call_method("permute", (args[0], 0, 2, 3, 1))
            value = graph.call_method("flatten", (value, 1))
        values.append(value)
    graph.output(values[last])
    root = torch.nn.Module()
    for name, module in modules.items():
        root.add_module(name, module)
    return torch.fx.GraphModule(root, graph, class_name="TNNetGraph")


def to_torch(net):
    """The net as a torch model (float32, on the CPU, in eval mode).

    Parameters
    ----------
    net : TNNet

    Returns
    -------
    torch.nn.Sequential or torch.fx.GraphModule
        An ``nn.Sequential`` for a chain (every layer reads the one before
        it), else a ``GraphModule`` whose submodules are numbered the same
        way, with ``+`` for a ``TNNetSum`` and ``torch.cat(dim=1)`` for the
        concatenations. Its ``state_dict()`` has the keys and values of
        ``to_state_dict``. A net without convolutions, pooling or depth
        concatenations takes rows of ``input_size`` values in pyneural's
        flat order; one with them takes NCHW images (``images_from_rows``),
        and one whose last layer outputs a volume gives NCHW images
        (``images_from_rows`` of its output rows; no Flatten, which would
        order them (channel, y, x), not as pyneural's rows). Outputs agree
        within float32 rounding (torch sums in its own order; pyneural's
        tanh clamps its input to +-10; its softmax of a row of equal
        values is zeros, torch's is uniform; its max-pools floor at -1e6).
        Dropout is off in eval mode (as ``net.enable_dropouts(False)``; in
        training pyneural drops without rescaling, torch rescales).
        ``TNNetSELU`` and the two normalisations are modules of
        ``pyneural.io.torch_layers`` computing pyneural's forward pass;
        a ``TNNetAvgChannel`` on a non-square plane is the
        ``AvgPool2d`` that computes the original's quirk.

    Raises
    ------
    ImportError
        torch is not installed.
    FormatError
        A net with no torch counterpart, naming the layer: a convolution
        or pooling after a fully-connected layer or a flat concatenation,
        a softmax over a 3-D volume, a max-pool with padding or whose
        clipped border windows torch cannot reproduce, a ``TNNetReLU6``
        with leakiness.
    """
    torch = _import_torch("to_torch")
    from . import torch_layers
    with net.lock:                       # one structure and its weights
        steps, out = _torch_plan(net)
        state = to_state_dict(net)
    modules = {step.name: _torch_module(torch, torch_layers, step)
               for step in steps if step.name is not None}
    if all(step.name is not None and step.reads == (i,) for i, step in enumerate(steps[1:])):
        model = torch.nn.Sequential(*modules.values())
    else:
        model = _graph_module(torch, steps, modules, out[-1])
    model.load_state_dict({key: torch.from_numpy(value) for key, value in state.items()})
    return model.eval()


# ----------------------------------------------------------- from_torch --

def _square(value, what, where):
    """One int from an int or an (a, a) pair; FormatError otherwise."""
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise FormatError(f"{where}: {what} {tuple(value)} is not square; pyneural's are")
        value = value[0]
    return int(value)


def _torch_conv_layer(m, after, shape, bias, where):
    """The pyneural convolution for a torch ``Conv2d`` on a volume of
    ``shape``, followed by the activation ``after`` (a name or None), with
    a bias or not (FormatError for what pyneural's cannot compute). A
    kernel of two sizes is the clamp of a square one to a smaller input:
    (2, 3) on an input 2 high is pyneural's kernel 3."""
    if m.padding_mode != "zeros":
        raise FormatError(f"{where}: padding_mode={m.padding_mode!r}; pyneural pads with zeros")
    if _square(m.dilation, "dilation", where) != 1:
        raise FormatError(f"{where}: dilation {m.dilation}; pyneural's convolutions have none")
    if m.groups != 1:
        raise FormatError(f"{where}: groups={m.groups}; pyneural's convolutions see every "
                          "input channel")
    sx, sy, depth = shape
    kh, kw = m.kernel_size
    kernel = max(kh, kw)
    if (min(kernel, sy), min(kernel, sx)) != (kh, kw):
        raise FormatError(f"{where}: kernel {(kh, kw)} on an input {sy} high and {sx} wide: "
                          "pyneural's kernels are square, clamped to the unpadded input (a "
                          f"kernel of {kernel} is {min(kernel, sy)} high and {min(kernel, sx)} "
                          "wide there)")
    stride = _square(m.stride, "stride", where)
    padding = m.padding
    if padding == "same" and stride == 1 and kernel % 2 and kh == kw:
        padding = kernel // 2
    elif padding == "valid":
        padding = 0
    elif isinstance(padding, str):
        raise FormatError(f"{where}: padding={padding!r} with a {kernel}x{kernel} kernel at "
                          f"stride {stride}; pyneural pads every side alike")
    if m.in_channels != depth:
        raise FormatError(f"{where}: {m.in_channels} input channels, but its input has {depth}")
    cls = _CONV_FOLDED.get(after, TNNetConvolutionLinear)
    return cls(m.out_channels, kernel, _square(padding, "padding", where), stride,
               0 if bias else 1)


def _torch_pool_layer(m, shape, where):
    """The pyneural max-pool for a torch ``MaxPool2d`` on a volume of
    ``shape`` (FormatError for what pyneural's cannot compute)."""
    if m.return_indices:
        raise FormatError(f"{where}: return_indices=True has no pyneural counterpart")
    if _square(m.dilation, "dilation", where) != 1:
        raise FormatError(f"{where}: dilation {m.dilation}; pyneural's max-pool has none")
    pool = _square(m.kernel_size, "kernel", where)
    stride = _square(m.stride if m.stride not in (None, (), []) else pool, "stride", where)
    padding = _square(m.padding, "padding", where)
    _torch_pool_ceil_mode(pool, stride, padding, shape[0], shape[1], where, (m.ceil_mode,))
    return TNNetMaxPool(pool, stride, padding)


def _torch_avg_pool_layer(m, shape, where):
    """The pyneural average pool for a torch ``AvgPool2d`` on a volume of
    ``shape``: windows side by side (stride = kernel), no padding, and a
    window clipped at the border divided by ``kernel**2`` as pyneural's
    (``ceil_mode=True, divisor_override=kernel**2``); FormatError otherwise."""
    size = _square(m.kernel_size, "kernel", where)
    stride = _square(m.stride if m.stride not in (None, (), []) else size, "stride", where)
    padding = _square(m.padding, "padding", where)
    if stride != size or padding:
        raise FormatError(f"{where}: stride {stride}, padding {padding}; pyneural's TNNetAvgPool "
                          "takes windows side by side (stride = kernel), without padding")
    sx, sy = shape[:2]
    if sx % size or sy % size:
        ours = f"{-(-sx // size)}x{-(-sy // size)}"
        if not m.ceil_mode:
            raise FormatError(f"{where}: a {size}x{size} average pool on {sx}x{sy} gives "
                              f"{sx // size}x{sy // size} (ceil_mode=False), pyneural's {ours} "
                              "(the last window clipped)")
        if m.divisor_override != size * size:
            raise FormatError(f"{where}: on {sx}x{sy} the border windows are clipped; torch "
                              "divides their sum by the cells inside the input, pyneural by "
                              f"{size * size} (divisor_override={size * size} computes it)")
    elif m.divisor_override not in (None, size * size):
        raise FormatError(f"{where}: divisor_override={m.divisor_override}; pyneural divides by "
                          f"{size * size}")
    return TNNetAvgPool(size)


def _function_name(fn):
    module = getattr(fn, "__module__", None) or ""
    module = {"_operator": "operator", "torch._C._nn": "torch.nn.functional"}.get(module, module)
    return f"{module}.{fn.__name__}" if module else getattr(fn, "__name__", repr(fn))


def _functions(torch):
    """Each function from_torch reads as a module: ``{function: (torch.nn
    class name, its parameters after the input, defaults that differ from
    the class's)}``."""
    F = torch.nn.functional
    return {F.relu: ("ReLU", "inplace"), torch.relu: ("ReLU", ""),
            F.leaky_relu: ("LeakyReLU", "negative_slope inplace"),
            F.relu6: ("ReLU6", "inplace"), F.silu: ("SiLU", "inplace"),
            F.selu: ("SELU", "inplace"), torch.selu: ("SELU", ""),
            torch.tanh: ("Tanh", ""), F.tanh: ("Tanh", ""),
            torch.sigmoid: ("Sigmoid", ""), F.sigmoid: ("Sigmoid", ""),
            F.softmax: ("Softmax", "dim _stacklevel dtype"), torch.softmax: ("Softmax", "dim"),
            F.dropout: ("Dropout", "p training inplace"),
            F.max_pool2d: ("MaxPool2d", "kernel_size stride padding dilation ceil_mode "
                                        "return_indices"),
            F.avg_pool2d: ("AvgPool2d", "kernel_size stride padding ceil_mode count_include_pad "
                                        "divisor_override"),
            F.adaptive_avg_pool2d: ("AdaptiveAvgPool2d", "output_size"),
            F.adaptive_max_pool2d: ("AdaptiveMaxPool2d", "output_size return_indices"),
            torch.flatten: ("Flatten", "start_dim end_dim", {"start_dim": 0})}


# Tensor methods read as the function of the same name.
_METHODS = ("relu", "tanh", "sigmoid", "softmax", "flatten", "add", "permute")


class _Op(NamedTuple):
    """A node of the traced graph, read: ``what`` is a torch.nn class name,
    a helper class name, ``"add"``, ``"cat"`` or ``"permute"``; ``module``
    the module (for a function, the one it is the functional form of) and
    ``target`` its path in the model (None for a function); ``inputs`` the
    nodes it reads; ``args`` what an operation takes besides (cat's dim,
    permute's order); ``where`` names it in messages."""
    what: str
    module: object
    target: object
    inputs: tuple
    args: tuple
    where: str


class _Value(NamedTuple):
    """What a node's value is in pyneural: the output of ``layer``, as an
    NCHW ``"image"``, ``"rows"`` (N, values) or ``"nhwc"`` (an image
    permuted (0, 2, 3, 1)); for rows, ``cols`` is the pyneural raw index of
    each torch column (None when in order), set by the Flatten ``flatten``
    names."""
    layer: object
    form: str
    cols: object = None
    flatten: object = None


class _TorchReader:
    """The net of one traced torch module: the nodes in order, each a layer
    (a Conv2d with the BatchNorm2d and the activation that alone read it
    are one), or no layer (a Flatten, a permute): ``net()`` builds it."""

    def __init__(self, torch, helpers, module, input_shape, generator):
        self.torch, self.helpers, self.module = torch, helpers, module
        self.input_shape, self.net_ = input_shape, TNNet(generator)
        self.functions = _functions(torch)
        graph = self._trace()
        output = [n for n in graph.nodes if n.op == "output"][0]
        # Only what the output depends on: a branch nothing reads computes nothing.
        live, todo = {output}, [output]
        while todo:
            for node in todo.pop().all_input_nodes:
                if node not in live:
                    live.add(node)
                    todo.append(node)
        self.nodes = [n for n in graph.nodes if n in live]
        self.inputs = [n for n in graph.nodes if n.op == "placeholder"]
        self.users = {n: [u for u in n.users if u in live] for n in self.nodes}
        self.ops = {n: self._op(n) for n in self.nodes if n.op not in ("placeholder", "output")}
        self.values, self.absorbed = {}, set()
        # state-dict key -> tensor (as used); (layer, weight key, bias key, cols, BN or None)
        self.tensors, self.layout = {}, []

    def _trace(self):
        torch, helpers = self.torch, self.helpers
        leaves = tuple(getattr(torch.nn, name) for name in _TORCH_CLASSES) + tuple(
            getattr(helpers, name) for name in _HELPER_CLASSES)

        class Tracer(torch.fx.Tracer):
            # The layers from_torch reads, their subclasses (refused: they
            # may compute something else) and pyneural's own modules stay
            # single nodes; anything else is traced through.
            def is_leaf_module(self, m, qualified_name):
                return isinstance(m, leaves) or super().is_leaf_module(m, qualified_name)

        if Tracer().is_leaf_module(self.module, ""):
            raise TypeError(f"from_torch() needs a model (an nn.Sequential, or a module whose "
                            f"forward torch.fx traces), got a lone {type(self.module).__name__}"
                            ": wrap it, nn.Sequential(module)")
        try:
            return Tracer().trace(self.module)
        except Exception as exc:         # whatever forward() raises on a proxy
            raise FormatError(f"torch module {type(self.module).__name__}: torch.fx cannot trace "
                              f"it ({type(exc).__name__}: {exc}); from_torch reads the "
                              "operations torch.fx records, so forward() must not branch on "
                              "tensor values") from None

    # -- reading nodes --------------------------------------------------
    def _op(self, node):
        """The ``_Op`` of a call node; FormatError naming it when from_torch
        does not read it."""
        torch = self.torch
        if node.op == "call_module":
            module = self.module.get_submodule(node.target)
            name = type(module).__name__
            where = f"module {node.target} ({name})"
            if name in _HELPER_CLASSES and type(module) is getattr(self.helpers, name):
                return _Op(name, module, node.target, tuple(node.args[:1]), (), where)
            torch_class = getattr(torch.nn, name, None)
            if name not in _TORCH_CLASSES or type(module) is not torch_class:
                base = next((c.__name__ for c in type(module).__mro__[1:] if c.__name__
                             in _TORCH_CLASSES and c is getattr(torch.nn, c.__name__)), None)
                if base is not None:
                    raise FormatError(f"{where} is a subclass of torch's {base}: it may compute "
                                      "something else")
                raise FormatError(f"{where} has no pyneural layer: only {_TORCH_SUPPORTED} are "
                                  "supported")
            if len(node.args) != 1 or node.kwargs:
                raise FormatError(f"{where} is called with {len(node.args)} arguments; "
                                  "from_torch reads modules called on one tensor")
            return _Op(name, module, node.target, tuple(node.args), (), where)
        target = node.target
        if node.op == "call_method":
            where = f"node {node.name} (Tensor.{target})"
            fn = getattr(torch, target, None) if target in _METHODS else None
        elif node.op == "call_function":
            where = f"node {node.name} ({_function_name(target)})"
            fn = target
        else:
            raise FormatError(f"node {node.name} ({node.op} {target}): a tensor used directly "
                              "in forward() has no pyneural layer")
        if fn in (operator.add, torch.add):
            other = {k: v for k, v in node.kwargs.items() if k != "alpha"}
            if node.kwargs.get("alpha", 1) != 1 or other or len(node.args) != 2 or not all(
                    isinstance(a, torch.fx.Node) for a in node.args):
                raise FormatError(f"{where}: from_torch reads the sum of two tensors (x + y); "
                                  f"got args {node.args}, kwargs {dict(node.kwargs)}")
            return _Op("add", None, None, tuple(node.args), (), where)
        if fn in (torch.cat, torch.concat, torch.concatenate):
            args = dict(zip(("tensors", "dim"), node.args), **node.kwargs)
            tensors = args.get("tensors")
            if set(args) - {"tensors", "dim"} or not isinstance(tensors, (list, tuple)) or not all(
                    isinstance(t, torch.fx.Node) for t in tensors):
                raise FormatError(f"{where}: from_torch reads torch.cat of a list of tensors "
                                  "along dim=1")
            return _Op("cat", None, None, tuple(tensors), (args.get("dim", 0),), where)
        if fn is torch.permute:
            dims = node.args[1:] or (node.kwargs.get("dims"),)
            dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) \
                else tuple(dims)
            return _Op("permute", None, None, tuple(node.args[:1]), dims, where)
        if fn not in self.functions:
            raise FormatError(f"{where} has no pyneural layer: only {_TORCH_SUPPORTED} are "
                              "supported")
        return self._functional(node, fn, where)

    def _functional(self, node, fn, where):
        """The ``_Op`` of a function call: the module it is the functional
        form of, built from the call's arguments."""
        name, params, *defaults = self.functions[fn]
        params = params.split()
        if len(node.args) - 1 > len(params) or set(node.kwargs) - set(params):
            raise FormatError(f"{where}: unexpected arguments {node.args[1:]}, "
                              f"{dict(node.kwargs)}")
        given = {**(defaults[0] if defaults else {}), **dict(zip(params, node.args[1:])),
                 **node.kwargs}
        cls = getattr(self.torch.nn, name)
        accepted = inspect.signature(cls).parameters
        for key, value in given.items():
            if key not in accepted and key not in ("training", "_stacklevel") \
                    and value is not None:
                raise FormatError(f"{where}: {key}={value!r} has no pyneural counterpart")
        try:
            module = cls(**{k: v for k, v in given.items() if k in accepted})
        except (TypeError, ValueError) as exc:
            raise FormatError(f"{where}: {exc}") from None
        module.train(bool(given.get("training", True)))
        return _Op(name, module, None, tuple(node.args[:1]), (), where)

    def _only_reader(self, node, whats):
        """The node that alone reads ``node``, if its op is one of ``whats``."""
        users = self.users[node]
        if len(users) == 1 and users[0] in self.ops and self.ops[users[0]].what in whats:
            return users[0]
        return None

    # -- building the net -------------------------------------------------
    def net(self):
        for node in self.nodes:
            if node.op == "output":
                return self._finish(node)
            if node in self.absorbed:
                continue
            op = self.ops.get(node)
            try:
                if op is None:
                    self.values[node] = self._input()
                    continue
                self._check_in_place(op)
                node, value = self._read(node, op)
                self.values[node] = value
            except ValueError as exc:
                if isinstance(exc, FormatError):
                    raise
                raise FormatError(f"{op.where if op else 'torch module'}: {exc}") from None

    def _check_in_place(self, op):
        if getattr(op.module, "inplace", False) and len(self.users[op.inputs[0]]) > 1:
            raise FormatError(f"{op.where} works in place on a value that other nodes read "
                              f"too ({op.inputs[0].name}): what they see depends on the order")

    def _input(self):
        if len(self.inputs) != 1:
            raise FormatError(f"torch module: forward() takes {len(self.inputs)} tensors "
                              f"({', '.join(n.name for n in self.inputs)}); a net has one input")
        if self.input_shape is None:
            linear = next((op.module for op in self.ops.values() if op.what == "Linear"), None)
            if linear is None:
                raise FormatError("torch module: no Linear says how many values it takes: give "
                                  "input_shape=(channels, height, width)")
            layer = TNNetInput(linear.in_features)
            form = "rows"
        else:
            try:
                depth, height, width = (int(v) for v in self.input_shape)
            except (TypeError, ValueError):
                raise FormatError("torch module: input_shape must be (channels, height, width), "
                                  f"got {self.input_shape!r}") from None
            if min(depth, height, width) < 1:
                raise FormatError(f"torch module: input_shape {self.input_shape!r} has a size "
                                  "below 1")
            layer, form = TNNetInput(width, height, depth), "image"
        return _Value(self.net_._append(layer, None), form)

    def _append(self, layer, reads):
        """Attach ``layer`` reading the layer of value ``reads`` (merging
        layers read their links)."""
        return self.net_._append(layer, None, reads.layer)

    def _image(self, op, value):
        """``value``, which ``op`` needs to be NCHW images."""
        if value.form == "image":
            return value
        if value.form == "rows" and isinstance(value.layer, TNNetInput):
            raise FormatError(f"{op.where} reads images: give from_torch input_shape=(channels, "
                              "height, width) of the NCHW images the module takes")
        raise FormatError(f"{op.where} follows a Linear or Flatten: no pyneural counterpart")

    def _read(self, node, op):
        """``(node, value)``: the layer of ``node`` made and attached, and
        the last node it computes (a Conv2d's or a Linear's may take the
        nodes that alone read it, which are then absorbed)."""
        what, m, where = op.what, op.module, op.where
        values = [self.values[n] for n in op.inputs]
        value = values[0] if values else None
        if what in ("add", "cat"):
            return node, self._merge(op, values)
        if what == "permute":
            if value.form != "image" or op.args != (0, 2, 3, 1):
                raise FormatError(f"{where}: from_torch reads permute(0, 2, 3, 1) of an image "
                                  f"(to flatten it in pyneural's order), got {op.args}")
            return node, value._replace(form="nhwc")
        if what == "Flatten":
            if (m.start_dim, m.end_dim) != (1, -1):
                raise FormatError(f"{where}: start_dim={m.start_dim}, end_dim={m.end_dim}; "
                                  "only Flatten() (1, -1) is supported")
            if value.form == "image":
                cols = _chw_columns(value.layer.output.shape)
                return node, _Value(value.layer, "rows", cols, where if cols is not None else None)
            return node, value._replace(form="rows")
        if value.form == "nhwc":
            raise FormatError(f"{where} reads a permuted image: from_torch reads a permute(0, 2, "
                              "3, 1) only as the input of flatten(1)")
        if what == "Conv2d":
            return self._conv(node, op, self._image(op, value))
        if what == "Linear":
            return self._linear(node, op, value)
        if what == "BatchNorm2d":
            before = self.ops.get(op.inputs[0])
            if before is not None and before.what == "Conv2d":
                raise FormatError(f"{where}: the convolution before it ({before.where}) is read "
                                  "by other nodes too, which need its output before the "
                                  "normalisation: pyneural folds a BatchNorm2d into a "
                                  "convolution that nothing else reads")
            raise FormatError(f"{where} does not follow a Conv2d: pyneural folds a BatchNorm2d "
                              "into the convolution right before it, and has no other")
        if what in ("MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d"):
            return node, _Value(self._append(self._pool(op, self._image(op, value)), value),
                                "image")
        if what == "ChannelStdNormalization" and value.form != ("image" if m.images else "rows"):
            raise FormatError(f"{where}: images={m.images}, but its input is "
                              f"{value.form}")
        if what == "ChannelStdNormalization" and value.cols is not None:
            raise FormatError(f"{where} reads the {value.flatten}'s (channel, y, x) order: "
                              "no pyneural counterpart")
        return node, value._replace(layer=self._append(self._elementwise(op, value), value))

    def _merge(self, op, values):
        """A sum (``add``) or concatenation (``cat``) of ``values``."""
        forms = {(v.form, None if v.cols is None else v.cols.tobytes()) for v in values}
        form = values[0].form
        if op.what == "add":
            if len(forms) != 1 or form == "nhwc":
                raise FormatError(f"{op.where} adds values of different layouts ("
                                  f"{', '.join(v.form for v in values)}): no pyneural "
                                  "counterpart")
            layer = TNNetSum([v.layer for v in values])
            return values[0]._replace(layer=self.net_._append(layer, None))
        dim = op.args[0]
        if {v.form for v in values} == {"image"} and dim in (1, -3):
            return _Value(self.net_._append(TNNetDeepConcat([v.layer for v in values]), None),
                          "image")
        if {v.form for v in values} != {"rows"} or dim not in (1, -1):
            raise FormatError(f"{op.where}: torch.cat(dim={dim}) of "
                              f"{', '.join(v.form for v in values)}; from_torch reads the "
                              "concatenation of images' channels or of rows (dim=1)")
        cols, flatten = None, next((v.flatten for v in values if v.flatten), None)
        if flatten is not None:
            # TNNetConcat puts each layer's raw values after the ones before.
            parts, offset = [], 0
            for v in values:
                size = v.layer.output.size
                parts.append(offset + (np.arange(size) if v.cols is None else v.cols))
                offset += size
            cols = np.concatenate(parts)
        layer = self.net_._append(TNNetConcat([v.layer for v in values]), None)
        return _Value(layer, "rows", cols, flatten)

    def _use(self, target, names):
        """Keep ``target``'s tensors ``names`` (those it has) for filling;
        their state-dict keys."""
        keys = []
        for name in names:
            tensor = getattr(self.module.get_submodule(target), name, None)
            if tensor is not None:
                self.tensors[f"{target}.{name}"] = tensor.detach().cpu()
                keys.append(f"{target}.{name}")
            else:
                keys.append(None)
        return keys

    def _conv(self, node, op, value):
        m = op.module
        bn = self._only_reader(node, ("BatchNorm2d",))
        act = self._only_reader(bn or node, ("ReLU", "Tanh"))
        after = self.ops[act].what.lower() if act is not None else None
        layer = self._append(_torch_conv_layer(m, after, tuple(value.layer.output.shape),
                                               m.bias is not None or bn is not None, op.where),
                             value)
        keys, norm = self._use(op.target, ("weight", "bias")), None
        if bn is not None:
            bn_op = self.ops[bn]
            if bn_op.module.training:
                raise FormatError(f"{bn_op.where} is in training mode (it normalises with each "
                                  "batch's statistics): call model.eval() first")
            if bn_op.module.running_mean is None:
                raise FormatError(f"{bn_op.where} keeps no running statistics "
                                  "(track_running_stats=False): no pyneural counterpart")
            if bn_op.module.num_features != m.out_channels:
                raise FormatError(f"{bn_op.where}: {bn_op.module.num_features} features, but "
                                  f"the convolution before it has {m.out_channels}")
            norm = (bn_op.target, self._use(bn_op.target, ("weight", "bias", "running_mean",
                                                           "running_var")),
                    float(bn_op.module.eps))
        self.absorbed.update(n for n in (bn, act) if n is not None)
        self.layout.append((layer, *keys, None, norm))
        return act or bn or node, _Value(layer, "image")

    def _linear(self, node, op, value):
        m = op.module
        if value.form == "image":
            after = "" if isinstance(value.layer, TNNetInput) else " after a Conv2d or pooling"
            raise FormatError(f"{op.where}{after} needs a Flatten before it (it reads NCHW "
                              "images)")
        size = value.layer.output.size
        if m.in_features != size:
            raise FormatError(f"{op.where}: {m.in_features} inputs, but its input has {size} "
                              "values")
        act = self._only_reader(node, ("ReLU", "Tanh", "Sigmoid"))
        cls = _FOLDED[self.ops[act].what.lower()] if act is not None else TNNetFullConnectLinear
        layer = self._append(cls(m.out_features, 0 if m.bias is not None else 1), value)
        if act is not None:
            self.absorbed.add(act)
        self.layout.append((layer, *self._use(op.target, ("weight", "bias")), value.cols, None))
        return act or node, _Value(layer, "rows")

    def _pool(self, op, value):
        what, m, where = op.what, op.module, op.where
        shape = value.layer.output.shape
        if what == "MaxPool2d":
            return _torch_pool_layer(m, shape, where)
        if what == "AvgPool2d":
            return _torch_avg_pool_layer(m, shape, where)
        size = m.output_size
        if (list(size) if isinstance(size, (tuple, list)) else [size] * 2) != [1, 1]:
            raise FormatError(f"{where}: output_size {size}; pyneural's channel poolings give "
                              "1x1 (output_size=1)")
        if what == "AdaptiveMaxPool2d":
            if m.return_indices:
                raise FormatError(f"{where}: return_indices=True has no pyneural counterpart")
            return TNNetMaxChannel()
        if shape[0] != shape[1]:
            raise FormatError(f"{where} on a {shape[0]}x{shape[1]} plane: pyneural's "
                              "TNNetAvgChannel averages a square plane only (it divides a "
                              "window of the plane's width by the width squared)")
        return TNNetAvgChannel()

    def _elementwise(self, op, value):
        """The layer of an element-wise op (an activation, dropout, a
        normalisation)."""
        what, m, where = op.what, op.module, op.where
        if what == "Softmax":
            if value.form == "image":
                raise FormatError(f"{where} over a 3-D volume: no pyneural counterpart")
            if m.dim not in (-1, 1):
                raise FormatError(f"{where}: Softmax(dim={m.dim}); pyneural's softmax is over "
                                  "the last dimension (dim=-1)")
            return TNNetSoftMax()
        if what == "SELU":
            self._warn_selu(where)
            return TNNetSELU()
        if what == "Dropout":
            layer = TNNetDropout(m.p)
            layer.enabled = m.training
            return layer
        if what in ("MovingStdNormalization", "ChannelStdNormalization"):
            layer = (TNNetMovingStdNormalization if what[0] == "M"
                     else TNNetChannelStdNormalization)()
            self.layout.append((layer, *self._use(op.target, ("weight", "bias")), None, None))
            return layer
        simple = {"LeakyReLU": lambda: TNNetLeakyReLU(m.negative_slope),
                  "ReLU6": lambda: TNNetReLU6(0), "SiLU": TNNetSwish, "PascalSELU": TNNetSELU}
        if what in simple:
            return simple[what]()
        return _WEIGHTLESS[what.lower()]()

    @staticmethod
    def _warn_selu(where):
        from .torch_layers import _SELU_ALPHA_SCALE, _SELU_SCALE
        torch_alpha, torch_scale = 1.6732632423543772, 1.0507009873554805
        apart = max(abs(_SELU_SCALE / torch_scale - 1),
                    abs(_SELU_ALPHA_SCALE / (torch_alpha * torch_scale) - 1))
        # Below 0 the original computes (scale * alpha) * exp(x) - scale * alpha:
        # near x = 0 that difference is off by a rounding of scale * alpha.
        near_zero = float(np.spacing(np.float32(_SELU_ALPHA_SCALE)))
        warnings.warn(f"{where}: pyneural's TNNetSELU uses the original's constants (alpha "
                      f"1.6733, scale 1.0507; torch's are {torch_alpha}, {torch_scale}): its "
                      f"outputs differ from torch's by up to {apart:.1e} relative, plus "
                      f"{near_zero:.1e} near 0", UserWarning, stacklevel=4)

    def _finish(self, node):
        result = node.args[0]
        if not isinstance(result, self.torch.fx.Node):
            raise FormatError(f"torch module: forward() returns a {type(result).__name__}; "
                              "from_torch reads a module that returns one tensor")
        value = self.values[result]
        if len(self.net_.layers) < 2:
            raise FormatError("torch module: no layers")
        if value.form == "nhwc":
            raise FormatError(f"torch module: forward() returns {result.name}, a permuted image: "
                              "no pyneural counterpart")
        if value.cols is not None:
            raise FormatError(
                f"{value.flatten} ends the module's spatial part with no Linear after it: torch "
                "flattens the images in (channel, y, x) order, pyneural's output rows are in (y, "
                "x, channel) order and no pyneural layer reorders them. Drop the Flatten (the "
                "output rows are then the images: images_from_rows gives them in NCHW) or end "
                "with a Linear")
        assert value.layer is self.net_.layers[-1], "the output is the last layer made"
        arrays = _checked_tensors(self.tensors, "torch module")
        layout, filled = [], {}
        for layer, w_key, b_key, cols, norm in self.layout:
            weight, bias = arrays[w_key], arrays[b_key] if b_key else None
            if norm is not None:
                bn, keys, eps = norm
                conv = w_key.rpartition(".")[0]
                w_key, b_key = f"{conv}.weight (with {bn})", f"{conv}.bias (with {bn})"
                weight, bias = _fold(weight, bias, *(arrays[k] if k else None for k in keys), eps)
                _require_finite(weight, w_key, "torch module")
                _require_finite(bias, b_key, "torch module")
            filled[w_key] = weight
            if bias is not None:
                filled[b_key] = bias
            layout.append((layer, w_key, b_key if bias is not None else None, cols))
        return _fill(self.net_, layout, filled, "torch module")


def _fold(weight, bias, gamma, beta, mean, var, eps):
    """A Conv2d's weight and bias (None: zero) with the eval-mode
    BatchNorm2d after it folded in, ``gamma * (conv - mean) / sqrt(var +
    eps) + beta`` (``gamma`` / ``beta`` None: 1 / 0): computed in float64,
    rounded once to float32."""
    f64 = np.float64
    with np.errstate(all="ignore"):        # a zero variance: refused as non-finite
        scale = (1.0 if gamma is None else gamma.astype(f64)) / np.sqrt(var.astype(f64) + eps)
        scale = np.broadcast_to(scale, mean.shape)
        shifted = (0.0 if bias is None else bias.astype(f64)) - mean
        return ((weight * scale[:, None, None, None]).astype(np.float32),
                (shifted * scale + (0.0 if beta is None else beta)).astype(np.float32))


def from_torch(module, generator=None, input_shape=None):
    """A new TNNet computing what a torch model computes, with its weights.

    The model is traced with ``torch.fx`` (so ``forward`` must not branch
    on tensor values), and each operation it records becomes a layer:
    residual sums and channel concatenations included.

    Parameters
    ----------
    module : torch.nn.Module
        An ``nn.Sequential``, or any module whose ``forward`` torch.fx
        traces, built of ``Linear``, ``Conv2d`` (zeros padding, dilation 1,
        groups 1, square kernels and strides), ``BatchNorm2d`` (eval mode,
        right after a Conv2d that nothing else reads: folded into it),
        ``MaxPool2d``, ``AvgPool2d`` (stride = kernel, no padding),
        ``AdaptiveAvgPool2d(1)`` (square planes), ``AdaptiveMaxPool2d(1)``,
        ``Flatten``, ``ReLU``, ``LeakyReLU``, ``ReLU6``, ``SiLU``,
        ``SELU``, ``Tanh``, ``Sigmoid``, ``Identity``, ``Dropout`` and
        ``Softmax`` (over the last dimension) modules or their functions
        (``F.relu``, ``torch.flatten``, ...), ``+`` / ``torch.add`` of two
        tensors (a ``TNNetSum``) and ``torch.cat(dim=1)`` (of images: a
        ``TNNetDeepConcat``; of rows: a ``TNNetConcat``). A Conv2d
        followed by ReLU / Tanh (a Linear by ReLU / Tanh / Sigmoid) that
        alone read it is one layer of that activation; other activation
        modules become weightless layers. A Linear or Conv2d without bias
        (and no BatchNorm2d) becomes a ``suppress_bias`` layer. A Dropout
        is a ``TNNetDropout`` of rate ``1 / round(1 / p)``, enabled as the
        module is (``model.eval()``: off).
    generator : pyneural.rng.FPCRandom, optional
        The new net's generator (nothing is drawn from it here).
    input_shape : (int, int, int), optional
        ``(channels, height, width)`` of the NCHW images the module takes;
        without it the module takes rows, as many values as its first
        Linear reads.

    Returns
    -------
    TNNet
        It computes on ``image_rows(images)`` what the module computes on
        ``images`` (within float32 rounding; a folded BatchNorm2d within
        the rounding of its folded weights; SELU within 2e-5 relative, as
        the warning says); a module that ends in images gives them, and the
        net the rows ``image_rows`` makes of them.

    Raises
    ------
    ImportError
        torch is not installed.
    TypeError
        ``module`` is not a torch module, or is a lone layer (wrap it in
        an ``nn.Sequential``).
    FormatError
        torch.fx cannot trace the module; an operation with no pyneural
        counterpart, named by its module path (``module layer1.0.bn1
        (BatchNorm2d)``) or node (``node mul (operator.mul)``): another
        module or function, a subclass of a torch module, a BatchNorm2d in
        training mode or not right after a Conv2d, a Conv2d with another
        padding mode, dilation or groups, a pooling whose windows
        pyneural's cannot reproduce, a Softmax over another dimension, a
        sum of values in different layouts, an in-place operation on a
        value other nodes read; a Flatten after a Conv2d / pooling whose
        (channel, y, x) order reaches the output (pyneural's rows are (y,
        x, channel); the message names the Flatten); several inputs or
        outputs; tensors ``from_state_dict`` would refuse (bfloat16 ones
        included: convert with ``module.float()``).

    Warns
    -----
    UserWarning
        A SELU (pyneural's has the original's constants), or float16 /
        float64 tensors converted to float32.
    """
    torch = _import_torch("from_torch")
    if not isinstance(module, torch.nn.Module):
        raise TypeError("from_torch() needs a torch module (an nn.Sequential, or a module "
                        f"whose forward torch.fx traces), got {type(module).__name__}")
    from . import torch_layers
    return _TorchReader(torch, torch_layers, module, input_shape, generator).net()
