"""Builds the Cython kernels in ext/ into the pyneural package.

Flags: -O3 for speed, and -ffp-contract=off so that no a*b+c is fused into
an FMA: the original rounds every product and sum, and so must we. No
-march and no -ffast-math: the wheel stays portable and the float32
operation order stays exactly the original's.
"""
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

FLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math"]


def kernel(name):
    return Extension(
        f"pyneural.{name}",
        [f"ext/{name}.pyx"],
        depends=["ext/_shared.pxi", "ext/_conv.pxi", "ext/_graph.pxi", "ext/_mt.pxi"],
        include_dirs=[numpy.get_include()],
        extra_compile_args=FLAGS,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )


setup(
    ext_modules=cythonize(
        [kernel("_volume"), kernel("_dense"), kernel("_text")],
        compiler_directives={"language_level": "3"},
    ),
)
