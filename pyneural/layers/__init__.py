"""The layer classes, with the Pascal class names (``base``: what every
layer has; ``dense``: fully-connected and element-wise layers, dropout;
``conv``: convolutions and max-pooling; ``pool``: average and channel
pooling; ``merge``: the layers that read several (sum, concatenations);
``norm``: the trainable normalisations)."""
from .base import ACTIVATIONS, KERNEL_KINDS, MAX_ELEMENTS, TNNetInput, TNNetLayer
from .conv import (TNNetConvolution, TNNetConvolutionLinear, TNNetConvolutionReLU,
                   TNNetMaxPool, TNNetPointwiseConv, TNNetPointwiseConvLinear,
                   TNNetPointwiseConvReLU)
from .dense import (TNNetDropout, TNNetFullConnect, TNNetFullConnectLinear,
                    TNNetFullConnectReLU, TNNetFullConnectSigmoid, TNNetHyperbolicTangent,
                    TNNetIdentity, TNNetLeakyReLU, TNNetReLU, TNNetReLU6, TNNetSELU,
                    TNNetSigmoid, TNNetSoftMax, TNNetSwish)
from .merge import TNNetConcat, TNNetDeepConcat, TNNetSum
from .norm import TNNetChannelStdNormalization, TNNetMovingStdNormalization
from .pool import TNNetAvgChannel, TNNetAvgPool, TNNetMaxChannel

LAYER_CLASSES = {cls.__name__: cls for cls in (
    TNNetInput, TNNetFullConnectLinear, TNNetFullConnectReLU, TNNetFullConnect,
    TNNetFullConnectSigmoid, TNNetReLU, TNNetSigmoid, TNNetHyperbolicTangent,
    TNNetIdentity, TNNetSoftMax, TNNetConvolution, TNNetConvolutionReLU,
    TNNetConvolutionLinear, TNNetMaxPool, TNNetPointwiseConv, TNNetPointwiseConvReLU,
    TNNetPointwiseConvLinear, TNNetSum, TNNetConcat, TNNetDeepConcat, TNNetDropout,
    TNNetLeakyReLU, TNNetReLU6, TNNetSwish, TNNetSELU, TNNetMovingStdNormalization,
    TNNetChannelStdNormalization, TNNetAvgPool, TNNetAvgChannel, TNNetMaxChannel)}

__all__ = ["LAYER_CLASSES", "ACTIVATIONS", "MAX_ELEMENTS"] + sorted(LAYER_CLASSES)
