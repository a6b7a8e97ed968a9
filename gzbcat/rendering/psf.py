"""PSF convolution: a true 2-D convolution, same-size output, zero padding, odd kernels.

The reference convolved with XLA's ``conv``, which is a cross-correlation (the kernel is not
flipped; spec §7.5, §12.1 #21). For an asymmetric SDSS PSF that shifts light the wrong way.
Here ``corrected`` mode convolves and ``reference`` mode correlates. Both pad with zeros
(light outside the image is lost, none comes in) and require odd, centred kernels, the only
size for which a 'same' output is unambiguous (spec §12.1 #23).

:class:`PSFOperator` caches the real FFT of the zero-padded kernel for one image shape, so each
application is two real FFTs of about (H + k − 1) × (W + k − 1). Its :meth:`PSFOperator.adjoint`
is the transpose operator (correlation for a convolution and vice versa), which is what the
gradient of any function of the convolved image needs. :func:`convolve_psf_plain` is the plain
form, the sum of shifted copies of the image.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import fft

from gzbcat.model import Method
from gzbcat.rendering.rules import RENDERING_RULES

__all__ = ["PSFOperator", "check_psf", "convolve_psf", "convolve_psf_plain", "psf_operator"]


def check_psf(psf: np.ndarray) -> np.ndarray:
    """Return the PSF as a float64 2-D array, or raise if it is not 2-D with odd sides.

    Raises
    ------
    ValueError
        If the kernel is not 2-D, is empty, has an even side, or is not finite.
    """
    kernel = np.asarray(psf, dtype=np.float64)
    if kernel.ndim != 2 or kernel.size == 0:
        raise ValueError(f"PSF must be a non-empty 2-D array, got shape {kernel.shape}")
    if kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise ValueError(
            f"PSF sides must be odd so that its centre is a pixel, got shape {kernel.shape}"
        )
    if not np.all(np.isfinite(kernel)):
        raise ValueError("PSF contains non-finite values")
    return kernel


class PSFOperator:
    """Same-size, zero-padded convolution with a fixed PSF for a fixed image shape.

    Parameters
    ----------
    psf
        (kh, kw) kernel, both sides odd; its centre pixel is ``(kh // 2, kw // 2)``. It is not
        renormalised (spec §7.5: assumed to sum to 1).
    shape
        (H, W) of the images it will be applied to.
    method
        ``corrected``: convolution. ``reference``: cross-correlation, as the reference did.
    """

    def __init__(
        self, psf: np.ndarray, shape: tuple[int, int], *, method: Method = Method.CORRECTED
    ) -> None:
        kernel = check_psf(psf)
        if RENDERING_RULES[method].psf_correlates:
            kernel = kernel[::-1, ::-1]
        self.kernel = kernel
        self.shape = (int(shape[0]), int(shape[1]))
        kh, kw = kernel.shape
        self._offset = (kh // 2, kw // 2)
        # Zero padding. The FFT product is a circular convolution of period M; the output
        # rows kept are [kh//2, kh//2 + H) of the linear one, whose support is [0, H + kh − 1).
        # A term wraps onto a kept row only if M < H + kh//2 (likewise for the adjoint's
        # correlation), so H + kh//2 suffices rather than the full H + kh − 1.
        self._padded = (
            fft.next_fast_len(self.shape[0] + kh // 2, real=True),
            fft.next_fast_len(self.shape[1] + kw // 2, real=True),
        )
        self._kernel_ft = fft.rfft2(kernel, s=self._padded)
        self._kernel_ft_conj = np.conj(self._kernel_ft)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Return the PSF-convolved image (same shape)."""
        height, width = self.shape
        full = fft.irfft2(fft.rfft2(image, s=self._padded) * self._kernel_ft, s=self._padded)
        oy, ox = self._offset
        return full[oy : oy + height, ox : ox + width]

    def adjoint(self, image: np.ndarray) -> np.ndarray:
        """Return the transpose operator applied to ``image`` (for gradients).

        If ``y = P x`` then ``Σ w·y = Σ (Pᵀ w)·x``: the gradient of a function of the
        convolved image with respect to the unconvolved one is ``Pᵀ`` of its gradient.
        """
        height, width = self.shape
        oy, ox = self._offset
        padded = np.zeros(self._padded)
        padded[oy : oy + height, ox : ox + width] = image
        full = fft.irfft2(fft.rfft2(padded) * self._kernel_ft_conj, s=self._padded)
        return full[:height, :width]


@functools.lru_cache(maxsize=16)
def _cached_operator(
    kernel_bytes: bytes, kernel_shape: tuple[int, int], shape: tuple[int, int], method: Method
) -> PSFOperator:
    kernel = np.frombuffer(kernel_bytes, dtype=np.float64).reshape(kernel_shape)
    return PSFOperator(kernel, shape, method=method)


def psf_operator(
    psf: np.ndarray, shape: tuple[int, int], *, method: Method = Method.CORRECTED
) -> PSFOperator:
    """Return a :class:`PSFOperator`, reusing one built earlier for the same PSF values.

    Building one costs a real FFT of the padded kernel, about as much as applying it; a
    renderer called once per image (``render_model``) would otherwise pay it every time.
    The cache is keyed on the kernel's bytes, so a PSF array changed in place is not
    mistaken for the old one.
    """
    kernel = check_psf(psf)
    return _cached_operator(
        np.ascontiguousarray(kernel).tobytes(),
        kernel.shape,
        (int(shape[0]), int(shape[1])),
        method,
    )


def convolve_psf(
    image: np.ndarray, psf: np.ndarray, *, method: Method = Method.CORRECTED
) -> np.ndarray:
    """Convolve an image with a PSF: same size, zero padding, odd kernel (see :class:`PSFOperator`).

    Parameters
    ----------
    image
        (H, W) image.
    psf
        (kh, kw) kernel with odd sides.
    method
        ``corrected``: true convolution; ``reference``: cross-correlation.
    """
    image = np.asarray(image, dtype=np.float64)
    return psf_operator(psf, image.shape, method=method)(image)


def convolve_psf_plain(
    image: np.ndarray, psf: np.ndarray, *, method: Method = Method.CORRECTED
) -> np.ndarray:
    """Return ``out[i, j] = Σ_k,l K[k, l]·image[i + kh//2 − k, j + kw//2 − l]``, zero outside.

    The plain form of :func:`convolve_psf`, one shifted copy of the image per kernel pixel:
    K is the PSF (``corrected``) or the PSF turned by 180° (``reference``, a correlation).
    """
    kernel = check_psf(psf)
    if RENDERING_RULES[method].psf_correlates:
        kernel = kernel[::-1, ::-1]
    height, width = image.shape
    kh, kw = kernel.shape
    padded = np.pad(np.asarray(image, dtype=np.float64), ((kh // 2,) * 2, (kw // 2,) * 2))
    out = np.zeros((height, width))
    for k in range(kh):
        for m in range(kw):
            rows = slice(kh - 1 - k, kh - 1 - k + height)
            cols = slice(kw - 1 - m, kw - 1 - m + width)
            out += kernel[k, m] * padded[rows, cols]
    return out
