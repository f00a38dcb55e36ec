"""TNNetVolume, TNNetVolumePair and TNNetVolumePairList.

A volume is a flat float32 numpy array (the Pascal ``FData``) with sizes
``(size_x, size_y, depth)``. Element (x, y, d) sits at
``data[(y * size_x + x) * depth + d]``: depth varies fastest, then x, then y.
The arithmetic runs in the compiled kernels of ``pyneural._volume``, one
rounded binary32 operation per element, as the original.
"""
import numbers

import numpy as np

from . import _kernels
from .nnformat import format_volume, parse_volume, require_str

__all__ = ["TNNetVolume", "TNNetVolumePair", "TNNetVolumePairList", "as_f32_vector",
           "as_f32_scalar", "blend", "image_rows", "images_from_rows"]

_vk = _kernels.volume


def _is_scalar(v):
    """A number or a 0-d array (what the arithmetic broadcasts), not a str."""
    return (isinstance(v, (numbers.Number, np.generic)) and not isinstance(v, (str, bytes))
            or isinstance(v, np.ndarray) and v.ndim == 0)


def as_f32_scalar(c, what="scalar"):
    """A real number for a float32 parameter, as a Python float.

    Raises TypeError for complex numbers (converting would silently drop the
    imaginary part), strings and other non-numbers; ValueError for an
    integer too large for a float.
    """
    if type(c) is float:
        return c
    if isinstance(c, np.ndarray) and c.ndim == 0:
        c = c[()]
    if isinstance(c, (complex, np.complexfloating)):
        raise TypeError(f"{what} must be a real number, got complex {c!r}")
    if not isinstance(c, (numbers.Real, np.bool_, np.integer, np.floating)):
        raise TypeError(f"{what} must be a real number, got {type(c).__name__}")
    try:
        return float(c)
    except OverflowError:
        raise ValueError(f"{what} {c} is too large for a float") from None


def _as_size(v, what):
    """A volume dimension: a non-negative integer (integral floats allowed)."""
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v.item()
    if isinstance(v, (numbers.Integral, np.integer)):
        v = int(v)
    elif isinstance(v, (numbers.Real, np.floating)):
        if not float(v).is_integer():
            raise ValueError(f"{what} must be an integer, got {v!r}")
        v = int(v)
    else:
        raise TypeError(f"{what} must be an integer, got {type(v).__name__}")
    if v < 0:
        raise ValueError(f"{what} must be >= 0, got {v}")
    return v


def as_f32_vector(x, size=None, what="input"):
    """A contiguous 1-D float32 view of ``x`` (no copy when it already is one).

    Accepts a TNNetVolume or anything numpy turns into real numbers (bool,
    int, float; values beyond float32 become +-Inf, as a cast does). Raises
    ValueError when ``size`` is given and does not match, or for ragged
    lists; TypeError for complex, string, object and other non-real dtypes.
    """
    if isinstance(x, TNNetVolume):
        a = x.data
    else:
        a = np.asarray(x)
        if a.dtype == object or a.dtype.kind not in "biuf":
            raise TypeError(f"{what} must be numeric, got dtype {a.dtype}")
        if a.dtype != np.float32:
            with np.errstate(over="ignore"):
                a = a.astype(np.float32)
        a = np.ascontiguousarray(a).reshape(-1)
    if size is not None and a.size != size:
        raise ValueError(f"{what} has {a.size} values, expected {size}")
    return a


def blend(a, b, alpha):
    """``(1 - alpha) * a + alpha * b`` in float32: the one interpolation of
    weights in pyneural (the net's ``interpolate``, the reports' paths,
    refinement and merging all call it).

    The bits are the original's: ``MulMulAdd(1 - alpha, alpha, B)`` on a
    copy of A, with alpha rounded to float32 and each product and the sum
    rounded to float32 (the volume kernel, no FMA).

    Parameters
    ----------
    a, b : array-like
        Real arrays of one shape (float32 data is used as it is).
    alpha : float
        B's weight; not limited to [0, 1].

    Returns
    -------
    ndarray
        A new C-contiguous float32 array of ``a``'s shape.

    Raises
    ------
    ValueError
        ``a`` and ``b`` differ in shape, or ``alpha`` is NaN or infinite.
    TypeError
        Non-numeric data or a non-real ``alpha``.
    """
    alpha = np.float32(as_f32_scalar(alpha, "alpha"))
    if not np.isfinite(alpha):
        raise ValueError(f"blend: alpha must be a finite number, got {alpha}")
    a = np.asarray(a.data if isinstance(a, TNNetVolume) else a)
    b = np.asarray(b.data if isinstance(b, TNNetVolume) else b)
    if a.shape != b.shape:
        raise ValueError(f"blend: a has shape {a.shape}, b {b.shape}")
    out = np.array(as_f32_vector(a, what="blend a").reshape(a.shape))
    _vk.mul_mul_add(out.reshape(-1), np.float32(1) - alpha, alpha,
                    as_f32_vector(b, what="blend b"))
    return out


# As many elements as the original's Integer sizes allow.
MAX_ELEMENTS = 2 ** 31 - 1


def as_sizes(size_x, size_y, depth):
    """Checked volume dimensions: non-negative integers within the element limit."""
    sx, sy, d = (_as_size(size_x, "size_x"), _as_size(size_y, "size_y"), _as_size(depth, "depth"))
    if max(sx, sy, d) > MAX_ELEMENTS or sx * sy * d > MAX_ELEMENTS:
        raise ValueError(f"a {sx}x{sy}x{d} volume is beyond the limit of {MAX_ELEMENTS} elements")
    return sx, sy, d


class TNNetVolume:
    """A 3-D float32 volume with Pascal memory order.

    Parameters
    ----------
    size_x, size_y, depth : int
        Dimensions (Pascal ``Create(SizeX, SizeY, Depth, c)``). Alternatively
        pass one array-like as ``size_x``: the volume becomes a copy of it,
        shaped ``(len, 1, 1)``.
    c : float
        Initial value of every element.

    Raises
    ------
    TypeError
        A size that is not an integer, a non-real ``c``, or array data
        that is not numeric.
    ValueError
        A negative or non-integral size, more than ``MAX_ELEMENTS``
        elements, or ragged array data.
    """

    __slots__ = ("_data", "_sx", "_sy", "_d", "_pinned")

    def __init__(self, size_x=1, size_y=1, depth=1, c=0.0):
        self._pinned = False
        if np.ndim(size_x) != 0:
            a = as_f32_vector(size_x, what="volume data").copy()
            self._set(a, a.size, 1, 1)
            return
        sx, sy, d = as_sizes(size_x, size_y, depth)
        self._set(np.full(sx * sy * d, as_f32_scalar(c, "fill value c"), dtype=np.float32),
                  sx, sy, d)

    @classmethod
    def wrap(cls, data, size_x=None, size_y=1, depth=1):
        """A volume over an existing contiguous 1-D float32 array (zero-copy).

        Parameters
        ----------
        data : ndarray
            A C-contiguous 1-D float32 array; the volume's elements are its
            memory, so writes go both ways.
        size_x, size_y, depth : int
            The shape (default ``(data.size, 1, 1)``); the product must be
            ``data.size``.

        Returns
        -------
        TNNetVolume

        Raises
        ------
        TypeError
            ``data`` is not a contiguous 1-D float32 ndarray, or a size is
            not an integer.
        ValueError
            The sizes are negative or do not multiply to ``data.size``.
        """
        if not (isinstance(data, np.ndarray) and data.dtype == np.float32
                and data.ndim == 1 and data.flags.c_contiguous):
            raise TypeError("wrap() needs a contiguous 1-D float32 array")
        v = cls.__new__(cls)
        v._pinned = False
        v._set(data, *as_sizes(data.size if size_x is None else size_x, size_y, depth))
        return v

    def _set(self, data, sx, sy, d):
        # Callers pass checked, non-negative int sizes.
        if data.size != sx * sy * d:
            raise ValueError(f"{data.size} values do not fill a {sx}x{sy}x{d} volume")
        if self._pinned and data is not self._data:
            # A layer's buffer: the compiled kernels point at this array, so
            # new values go into it and its size cannot change.
            if data.size != self._data.size:
                raise ValueError(f"this volume is a layer's buffer of {self._data.size} values; "
                                 f"it cannot become {sx}x{sy}x{d}")
            self._data[:] = data
            data = self._data
        self._data, self._sx, self._sy, self._d = data, sx, sy, d

    def _pin(self):
        """Mark this volume as a layer's buffer (see ``_set``); returns it."""
        self._pinned = True
        return self

    # -- shape and data ---------------------------------------------------
    @property
    def data(self):
        """The flat float32 array (Pascal ``FData``); writes go to the volume."""
        return self._data

    @property
    def size(self):
        """Number of elements, ``size_x * size_y * depth``."""
        return self._data.size

    @property
    def size_x(self):
        """Pascal ``SizeX``."""
        return self._sx

    @property
    def size_y(self):
        """Pascal ``SizeY``."""
        return self._sy

    @property
    def depth(self):
        """Pascal ``Depth`` (the fastest-varying index)."""
        return self._d

    @property
    def shape(self):
        """``(size_x, size_y, depth)``."""
        return (self._sx, self._sy, self._d)

    def as_array(self):
        """A zero-copy ``(size_x, size_y, depth)`` view: ``a[x, y, d]``."""
        s = self._data.itemsize
        return np.lib.stride_tricks.as_strided(
            self._data, shape=self.shape,
            strides=(self._d * s, self._sx * self._d * s, s))

    def __array__(self, dtype=None, copy=None):
        a = self.as_array()
        if dtype is not None:
            return a.astype(dtype)
        return a.copy() if copy else a

    def __len__(self):
        return self._data.size

    def __getitem__(self, key):
        if isinstance(key, tuple):
            return self.as_array()[key]
        return self._data[key]

    def __setitem__(self, key, value):
        if type(value) is not float and type(value) is not int:
            # numpy would read a string such as '5' as a number.
            a = value.data if isinstance(value, TNNetVolume) else np.asarray(value)
            if a.dtype == object or a.dtype.kind not in "biuf":
                raise TypeError(f"volume elements must be real numbers, got {value!r:.40} "
                                f"(dtype {a.dtype})")
            value = a
        if isinstance(key, tuple):
            self.as_array()[key] = value
        else:
            self._data[key] = value

    def __repr__(self):
        return f"TNNetVolume({self._sx}x{self._sy}x{self._d}, {self._data!r})"

    def __eq__(self, other):
        """Same sizes and the same bits in every element."""
        if not isinstance(other, TNNetVolume):
            return NotImplemented
        return self.shape == other.shape and self.same_bits(other)

    __hash__ = None

    def same_bits(self, other):
        """True when every element has the same bit pattern (NaNs included).

        Parameters
        ----------
        other : TNNetVolume or array-like
            Compared in flat order after conversion to float32; the shape
            is ignored.

        Returns
        -------
        bool
            False when the sizes differ.

        Raises
        ------
        TypeError
            ``other`` is not numeric.
        """
        o = as_f32_vector(other)
        return o.size == self.size and bool(np.all(self._data.view(np.uint32) == o.view(np.uint32)))

    def allclose(self, other, rtol=1e-5, atol=1e-8):
        """``numpy.allclose`` of the elements and ``other`` in flat order.

        Parameters
        ----------
        other : TNNetVolume or array-like
            Converted to float32; the shape is ignored.
        rtol, atol : float
            As in ``numpy.allclose`` (NaNs are never close).

        Returns
        -------
        bool
            False when the sizes differ.

        Raises
        ------
        TypeError
            ``other`` is not numeric.
        """
        o = as_f32_vector(other)
        return o.size == self.size and bool(np.allclose(self._data, o, rtol=rtol, atol=atol))

    # -- size changes -------------------------------------------------------
    def resize(self, size_x, size_y=1, depth=1):
        """Pascal ``ReSize``: new dimensions; the array is replaced (zeroed)
        only when the total size changes.

        Parameters
        ----------
        size_x, size_y, depth : int
            The new dimensions.

        Raises
        ------
        TypeError
            A size that is not an integer.
        ValueError
            A negative or non-integral size, more than ``MAX_ELEMENTS``
            elements, or a new total for a layer's buffer (whose size is
            fixed).
        """
        size_x, size_y, depth = as_sizes(size_x, size_y, depth)
        n = size_x * size_y * depth
        data = self._data if n == self._data.size else np.zeros(n, np.float32)
        self._set(data, size_x, size_y, depth)

    def copy_from(self, other):
        """Pascal ``Copy``: take ``other``'s values (and its sizes when the
        total size differs; equal totals keep this volume's shape).

        Parameters
        ----------
        other : TNNetVolume or array-like
            The source; an array-like is read as a ``(len, 1, 1)`` volume.
            An empty source changes nothing.

        Raises
        ------
        TypeError
            ``other`` is a scalar, a string or not numeric.
        ValueError
            A different total size for a layer's buffer (whose size is
            fixed), or ragged array data.
        """
        if not isinstance(other, TNNetVolume):
            if _is_scalar(other) or isinstance(other, (str, bytes)):
                # TNNetVolume(3) would be a zero volume of size 3.
                raise TypeError("copy_from() needs a volume or an array-like, "
                                f"got {type(other).__name__}")
            other = TNNetVolume(other)
        if other.size == 0:
            return
        if other.size != self.size:
            self._set(np.empty(other.size, np.float32), *other.shape)
        self._data[:] = other.data

    def copy(self):
        """A new volume with the same sizes and values."""
        v = TNNetVolume(*self.shape)
        v.data[:] = self._data
        return v

    # -- arithmetic (compiled kernels) ------------------------------------
    def _operand(self, v, what):
        return as_f32_vector(v, self.size, what)

    # Scalars (numbers and 0-d arrays) broadcast; complex ones are a
    # TypeError, as are strings and non-numeric arrays. Operands are checked
    # and converted before any element changes.
    def _elementwise(self, v, scalar_kernel, volume_kernel, what):
        """Run the scalar or the element-wise kernel, whichever ``v`` asks for."""
        if _is_scalar(v):
            scalar_kernel(self._data, as_f32_scalar(v, what))
        else:
            volume_kernel(self._data, self._operand(v, what))

    def fill(self, c=0.0):
        """Pascal ``Fill``: set every element to ``c`` (rounded to float32).

        Raises
        ------
        TypeError
            ``c`` is not a real number.
        ValueError
            ``c`` is an integer too large for a float.
        """
        _vk.fill(self._data, as_f32_scalar(c, "fill value"))

    def add(self, v):
        """self += v (volume, array or scalar).

        Parameters
        ----------
        v : TNNetVolume, array-like or real scalar
            A non-scalar operand must have ``size`` elements (read in flat
            order, its shape ignored); a scalar is added to every element.

        Raises
        ------
        TypeError
            A complex, string or non-numeric operand.
        ValueError
            An operand of another size, or ragged array data.
        """
        self._elementwise(v, _vk.add_scalar, _vk.add, "add operand")

    def sub(self, v):
        """self -= v (volume, array or scalar).

        Parameters
        ----------
        v : TNNetVolume, array-like or real scalar
            As in ``add``.

        Raises
        ------
        TypeError, ValueError
            As in ``add``.
        """
        self._elementwise(v, _vk.sub_scalar, _vk.sub, "sub operand")

    def mul(self, v):
        """``self *= v`` element-wise (volume, array or scalar).

        Parameters
        ----------
        v : TNNetVolume, array-like or real scalar
            As in ``add``.

        Raises
        ------
        TypeError, ValueError
            As in ``add``.
        """
        self._elementwise(v, _vk.mul_scalar, _vk.mul, "mul operand")

    def divi(self, c):
        """self /= c for a scalar c (a true division, as Pascal: ``c = 0``
        gives infinities and NaNs, not an error).

        Raises
        ------
        TypeError
            ``c`` is not a real number (volumes and arrays included).
        ValueError
            ``c`` is an integer too large for a float.
        """
        _vk.divi_scalar(self._data, as_f32_scalar(c, "divi operand"))

    def mul_add(self, a, b):
        """Pascal ``MulAdd``: ``self += b * a`` for a scalar ``a`` and volume
        ``b``, or ``self += a * b`` element-wise for two volumes.

        Parameters
        ----------
        a : real scalar, TNNetVolume or array-like
            The factor; a non-scalar one must have ``size`` elements.
        b : TNNetVolume or array-like
            ``size`` elements.

        Raises
        ------
        TypeError
            A complex, string or non-numeric operand.
        ValueError
            An operand of another size, or ragged array data.
        """
        if _is_scalar(a):
            _vk.mul_add_scalar(self._data, as_f32_scalar(a, "mul_add factor"),
                               self._operand(b, "mul_add operand"))
        else:
            _vk.mul_add(self._data, self._operand(a, "mul_add operand"),
                        self._operand(b, "mul_add operand"))

    def mul_mul_add(self, v1, v2, other):
        """Pascal ``MulMulAdd``: ``self = self * v1 + other * v2`` (v1, v2 scalars).

        Parameters
        ----------
        v1, v2 : float
            Real scalars.
        other : TNNetVolume or array-like
            ``size`` elements.

        Raises
        ------
        TypeError
            A non-real factor, or a non-numeric ``other``.
        ValueError
            ``other`` of another size, or ragged array data.
        """
        v1 = as_f32_scalar(v1, "mul_mul_add factor v1")
        v2 = as_f32_scalar(v2, "mul_mul_add factor v2")
        _vk.mul_mul_add(self._data, v1, v2, self._operand(other, "mul_mul_add operand"))

    def dot_product(self, other):
        """Sequential binary32 sum of products, as a Python float of float32 value.

        Parameters
        ----------
        other : TNNetVolume or array-like
            ``size`` elements.

        Returns
        -------
        float

        Raises
        ------
        TypeError
            A non-numeric ``other``.
        ValueError
            ``other`` of another size, or ragged array data.
        """
        return float(_vk.dot_product(self._data, self._operand(other, "dot_product operand")))

    def softmax(self):
        """Pascal ``SoftMax`` in place (quirk kept: all-equal -> zeros); returns the total.

        Returns
        -------
        float
            The sum of the exponentials the elements were divided by (0.0
            when all elements are equal, or the volume is empty).
        """
        return float(_vk.softmax(self._data))

    # -- text ----------------------------------------------------------------
    def save_to_string(self):
        """Pascal ``SaveToString``: ``1;sx;sy;depth;v0;v1;...`` (FloatToStr values)."""
        return format_volume(self.shape, self._data)

    def load_from_string(self, text):
        """Pascal ``LoadFromString``; on error (NNFormatError, a ValueError)
        the volume is unchanged.

        Parameters
        ----------
        text : str
            Volume text as ``save_to_string`` writes it; the volume takes
            its sizes and values.

        Raises
        ------
        TypeError
            ``text`` is not a str.
        NNFormatError
            Malformed text, e.g. a missing header, a token that is not a
            number, a negative size, or a value count that is not
            ``sx*sy*depth``.
        ValueError
            A different total size for a layer's buffer (whose size is
            fixed).
        """
        sizes, values = parse_volume(require_str(text, "volume text"))
        self._set(values, *sizes)

    @classmethod
    def from_string(cls, text):
        """A new volume from ``save_to_string`` text.

        Raises
        ------
        TypeError, NNFormatError
            As in ``load_from_string``.
        """
        v = cls(0)
        v.load_from_string(text)
        return v


class TNNetVolumePair:
    """An (input, output) pair of volumes: Pascal ``TNNetVolumePair.Create(I, O)``.

    Array-likes are copied into new volumes.
    """

    __slots__ = ("i", "o")

    def __init__(self, i, o):
        self.i = i if isinstance(i, TNNetVolume) else TNNetVolume(i)
        self.o = o if isinstance(o, TNNetVolume) else TNNetVolume(o)

    def __iter__(self):
        return iter((self.i, self.o))

    def __repr__(self):
        return f"TNNetVolumePair({self.i!r}, {self.o!r})"


class TNNetVolumePairList(list):
    """A list of TNNetVolumePair with the Pascal ``Add`` / ``Count``."""

    def add(self, pair):
        """Append a pair (or an ``(i, o)`` tuple); returns its index."""
        if not isinstance(pair, TNNetVolumePair):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"add() takes a TNNetVolumePair or an (input, output) pair, "
                                f"got {type(pair).__name__}")
            pair = TNNetVolumePair(*pair)
        self.append(pair)
        return len(self) - 1

    def count(self, *args):
        """Pascal ``Count`` with no argument; ``list.count(x)`` with one."""
        return len(self) if not args else super().count(*args)

    def to_arrays(self):
        """``(X, Y)`` float32 matrices, one row per pair."""
        if not self:
            return np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32)
        return (np.stack([p.i.data for p in self]), np.stack([p.o.data for p in self]))


# ------------------------------------------------------------- images --

_IMAGE_LAYOUTS = ("NCHW", "NHWC")


def image_rows(images, layout="NCHW"):
    """A batch of images as the rows ``compute_batch`` reads: each row one
    volume in raw order, ``(y * size_x + x) * depth + d``, with depth = C,
    size_y = H, size_x = W.

    Parameters
    ----------
    images : array-like
        ``(N, C, H, W)`` for ``layout="NCHW"`` (torch's), ``(N, H, W, C)``
        for ``"NHWC"``; one image without the N axis gives one row.
    layout : {"NCHW", "NHWC"}

    Returns
    -------
    numpy.ndarray
        ``(N, H * W * C)`` float32, C-contiguous (a new array).

    Raises
    ------
    ValueError
        An unknown layout, or an array that is not 3-D or 4-D.
    TypeError
        Non-numeric images.
    """
    a = _image_array(images, layout, "image_rows")
    if layout == "NCHW":
        a = a.transpose(0, 2, 3, 1)
    return np.array(a, dtype=np.float32, order="C").reshape(a.shape[0], int(np.prod(a.shape[1:])))


def images_from_rows(rows, size_x, size_y, depth, layout="NCHW"):
    """The inverse of ``image_rows``: rows of ``size_x * size_y * depth``
    raw-order values as ``(N, C, H, W)`` (``"NCHW"``) or ``(N, H, W, C)``
    (``"NHWC"``) float32 images (a new C-contiguous array).

    Raises
    ------
    ValueError
        An unknown layout, or rows of another length.
    """
    if layout not in _IMAGE_LAYOUTS:
        raise ValueError(f"images_from_rows: layout must be one of {_IMAGE_LAYOUTS}, "
                         f"got {layout!r}")
    size_x, size_y, depth = as_sizes(size_x, size_y, depth)
    a = np.asarray(rows.data if isinstance(rows, TNNetVolume) else rows)
    if a.dtype == object or a.dtype.kind not in "biuf":
        raise TypeError(f"images_from_rows: rows must be numeric, got dtype {a.dtype}")
    n = size_x * size_y * depth
    if a.ndim == 1:
        a = a.reshape(1, -1)
    if a.ndim != 2 or a.shape[1] != n:
        raise ValueError(f"images_from_rows: rows of {size_x}x{size_y}x{depth} = {n} values "
                         f"needed, got shape {a.shape}")
    a = a.reshape(-1, size_y, size_x, depth)
    if layout == "NCHW":
        a = a.transpose(0, 3, 1, 2)
    return np.array(a, dtype=np.float32, order="C")


def _image_array(images, layout, what):
    if layout not in _IMAGE_LAYOUTS:
        raise ValueError(f"{what}: layout must be one of {_IMAGE_LAYOUTS}, got {layout!r}")
    a = np.asarray(images)
    if a.dtype == object or a.dtype.kind not in "biuf":
        raise TypeError(f"{what}: images must be numeric, got dtype {a.dtype}")
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"{what}: images must be 4-D ({layout}) or one 3-D image, "
                         f"got shape {a.shape}")
    return a
