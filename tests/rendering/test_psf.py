"""PSF convolution: a true convolution, same size, zero padding, odd kernels (spec §7.5)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from gzbcat.rendering.psf import PSFOperator, convolve_psf

KERNEL = np.array(
    [
        [0.0, 0.1, 0.0],
        [0.0, 0.4, 0.3],
        [0.05, 0.0, 0.15],
    ]
)  # asymmetric, sums to 1


def test_delta_image_gives_the_kernel_itself_not_flipped() -> None:
    image = np.zeros((9, 9))
    image[4, 4] = 1.0
    out = convolve_psf(image, KERNEL)
    np.testing.assert_allclose(out[3:6, 3:6], KERNEL, atol=1e-15)
    assert np.abs(out).sum() == pytest.approx(1.0)


def test_reference_mode_cross_correlates() -> None:
    image = np.zeros((9, 9))
    image[4, 4] = 1.0
    out = convolve_psf(image, KERNEL, method="reference")
    np.testing.assert_allclose(out[3:6, 3:6], KERNEL[::-1, ::-1], atol=1e-15)


def test_matches_direct_convolution_with_zero_padding() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((23, 31))
    kernel = rng.random((7, 5))
    expected = signal.convolve2d(image, kernel, mode="same", boundary="fill", fillvalue=0.0)
    np.testing.assert_allclose(convolve_psf(image, kernel), expected, rtol=1e-12, atol=1e-12)


def test_zero_padding_loses_light_at_the_edge() -> None:
    image = np.zeros((9, 9))
    image[0, 4] = 1.0  # row 0: the kernel's top row (KERNEL[0]) would land outside
    out = convolve_psf(image, KERNEL)
    assert out.sum() == pytest.approx(1.0 - KERNEL[0].sum())


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (2, 2)])
def test_even_kernels_are_rejected(shape: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="odd"):
        convolve_psf(np.zeros((10, 10)), np.ones(shape))


def test_flux_is_conserved_away_from_the_edges() -> None:
    rng = np.random.default_rng(1)
    image = np.zeros((40, 40))
    image[10:30, 10:30] = rng.random((20, 20))
    kernel = rng.random((11, 11))
    kernel /= kernel.sum()
    assert convolve_psf(image, kernel).sum() == pytest.approx(image.sum(), rel=1e-12)


def test_adjoint_is_the_transpose() -> None:
    rng = np.random.default_rng(2)
    op = PSFOperator(rng.random((5, 9)), (17, 12))
    x, w = rng.random((17, 12)), rng.random((17, 12))
    assert np.vdot(w, op(x)) == pytest.approx(np.vdot(op.adjoint(w), x), rel=1e-12)
