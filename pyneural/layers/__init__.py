"""The layer classes, with the Pascal class names (``base``: what every
layer has; ``dense``: fully-connected and element-wise layers; ``conv``:
convolutions and max-pooling)."""
from .base import ACTIVATIONS, KERNEL_KINDS, MAX_ELEMENTS, TNNetInput, TNNetLayer
from .conv import (TNNetConvolution, TNNetConvolutionLinear, TNNetConvolutionReLU,
                   TNNetMaxPool)
from .dense import (TNNetFullConnect, TNNetFullConnectLinear, TNNetFullConnectReLU,
                    TNNetFullConnectSigmoid, TNNetHyperbolicTangent, TNNetIdentity, TNNetReLU,
                    TNNetSigmoid, TNNetSoftMax)

__all__ = [
    "TNNetLayer", "TNNetInput", "TNNetFullConnectLinear", "TNNetFullConnectReLU",
    "TNNetFullConnect", "TNNetFullConnectSigmoid", "TNNetReLU", "TNNetSigmoid",
    "TNNetHyperbolicTangent", "TNNetIdentity", "TNNetSoftMax", "TNNetConvolution",
    "TNNetConvolutionReLU", "TNNetConvolutionLinear", "TNNetMaxPool", "LAYER_CLASSES",
    "ACTIVATIONS", "MAX_ELEMENTS",
]

LAYER_CLASSES = {cls.__name__: cls for cls in (
    TNNetInput, TNNetFullConnectLinear, TNNetFullConnectReLU, TNNetFullConnect,
    TNNetFullConnectSigmoid, TNNetReLU, TNNetSigmoid, TNNetHyperbolicTangent,
    TNNetIdentity, TNNetSoftMax, TNNetConvolution, TNNetConvolutionReLU,
    TNNetConvolutionLinear, TNNetMaxPool)}
