"""torch modules for the pyneural layers torch has no exact counterpart of:
the original's SELU constants and its two normalisations (forward pass,
as pyneural computes it in ``compute``). ``to_torch`` puts them in the
modules it builds and ``from_torch`` reads them back; they live apart from
``torch_modules`` because they subclass ``torch.nn.Module``, so importing
this module imports torch (only ``to_torch`` / ``from_torch`` do).

Their tensors are a pyneural layer's own ``weight`` (neurons, fan_in) and
``bias``, so ``to_state_dict`` names them without torch.
"""
import numpy as np
import torch

# The original's SELU constants, as TNNetSELU rounds them to float32.
_SELU_SCALE = float(np.float32(1.0507))
_SELU_ALPHA_SCALE = float(np.float32(np.float32(1.6733) * np.float32(1.0507)))


class PascalSELU(torch.nn.Module):
    """pyneural's ``TNNetSELU``: ``scale * x`` for ``x >= 0``, else
    ``(scale * alpha) * exp(x) - scale * alpha``, with the original's
    ``alpha = 1.6733`` and ``scale = 1.0507`` in float32 (torch's
    ``nn.SELU`` uses 1.6732632... and 1.0507009..., 2e-5 apart)."""

    def forward(self, x):
        return torch.where(x >= 0, x * _SELU_SCALE, x.exp() * _SELU_ALPHA_SCALE - _SELU_ALPHA_SCALE)


class MovingStdNormalization(torch.nn.Module):
    """pyneural's ``TNNetMovingStdNormalization``: ``(x - mean) / std``,
    divided only when ``std > 0`` and ``std != 1``; ``weight`` is the
    layer's ``[[mean, std, count]]``, ``bias`` its unused bias."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor([[0.0, 1.0, 0.0]]))
        self.bias = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        mean, std = self.weight[0, 0], self.weight[0, 1]
        y = x - mean
        return torch.where((std > 0) & (std != 1), y / std, y)


class ChannelStdNormalization(torch.nn.Module):
    """pyneural's ``TNNetChannelStdNormalization``: ``(x + shift[c]) *
    scale[c]`` per channel ``c``: dimension 1 of NCHW images
    (``images=True``), else the fastest-varying ``depth`` values of rows in
    pyneural's raw order. ``weight`` is the layer's ``[shift, scale]``
    (2, depth), ``bias`` its unused bias."""

    def __init__(self, depth, images=True):
        super().__init__()
        self.images = bool(images)
        self.weight = torch.nn.Parameter(torch.stack([torch.zeros(depth), torch.ones(depth)]))
        self.bias = torch.nn.Parameter(torch.zeros(2))

    def forward(self, x):
        shift, scale = self.weight[0], self.weight[1]
        if self.images:                # a constant: torch.fx traces either branch
            return (x + shift.view(1, -1, 1, 1)) * scale.view(1, -1, 1, 1)
        cells = x.reshape(x.shape[0], -1, shift.shape[0])
        return ((cells + shift) * scale).reshape(x.shape)

    def extra_repr(self):
        return f"depth={self.weight.shape[1]}, images={self.images}"
