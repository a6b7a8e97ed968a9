"""The renderer's optimised kernels against their plain forms and slow, independent references.

Each kernel agrees with the plain form beside it in the package: :func:`render_sersic` with
an integer ``oversample`` with :func:`render_sersic_plain` to rounding (1e-12 relative), and
:func:`polyline_distance` with :func:`polyline_distance_plain` (built on
``gzbcat.geometry.nearest_on_polyline``) in pixels, squared distance and offset to 1e-10 px²
and px, and in segment and t except where two segments are equally near to rounding.
Sampling plans: levels are disjoint and each pixel is integrated on one lattice; pixels left
out by truncation hold less than 1e-15 of the peak; the adaptive default meets the ×25
criteria of ``test_sersic`` (same tolerances) on random components too. Special-cased
profiles (n = 1, n = 1/2, boxy) have gradients matching central differences (same
tolerance as ``test_sersic``). The cached, minimally padded FFT convolution equals the plain
sum of shifted images (:func:`convolve_psf_plain`, itself checked against scipy's direct
convolution and correlation) to 1e-11.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from gzbcat.geometry import nearest_on_polyline
from gzbcat.model import Method, SersicComponent
from gzbcat.rendering._evaluation import gauss_weights, sub_offsets
from gzbcat.rendering._perf import dot
from gzbcat.rendering.psf import PSFOperator, convolve_psf, convolve_psf_plain, psf_operator
from gzbcat.rendering.sersic import (
    SERSIC_PARAMETERS,
    plan_sampling,
    render_sersic,
    render_sersic_plain,
    render_sersic_vjp,
    sersic_b,
    sersic_profile,
)
from gzbcat.rendering.spiral import (
    Ridge,
    log_spiral_points,
    polyline_distance,
    polyline_distance_plain,
    polyline_distances,
)

BAR = SersicComponent(
    mux=66.9631, muy=66.1140, roll=0.92177, re=4.18773, q=0.33175, intensity=0.48666, n=0.8, c=3.0
)  # the benchmark's bar: compact, thin, boxy


def _profile_at_centres(comp: SersicComponent, shape: tuple[int, int]) -> np.ndarray:
    """The plain profile (spec §7.2) at pixel centres."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    return sersic_profile(comp.mux - xs, comp.muy - ys, comp, sersic_b(comp.n))


@pytest.mark.parametrize(
    "comp",
    [
        BAR,
        SersicComponent(mux=60.2, muy=70.7, roll=0.5, re=5.0, q=0.8, intensity=0.3, n=2.2),
        SersicComponent(mux=67.7, muy=66.4, roll=1.34, re=31.0, q=0.5, intensity=0.1),
    ],
)
def test_plan_levels_are_disjoint_and_cover_the_image(comp: SersicComponent) -> None:
    shape = (135, 135)
    plan = plan_sampling(comp, shape)
    listed = [level.pixels for level in plan.levels if level.pixels is not None]
    merged = np.concatenate(listed)
    assert np.unique(merged).size == merged.size  # every pixel on one lattice at most
    for pixels in listed:
        assert np.all(np.diff(pixels) > 0)  # ascending
    factors = plan.factor_map()
    # A whole-image first level also samples (once) the pixels later levels replace.
    overlap = merged.size if plan.levels[0].pixels is None else 0
    assert plan.n_samples == int((factors**2).sum()) + overlap
    # The centre pixel of a component is always refined.
    assert factors[round(comp.muy), round(comp.mux)] > 1


def test_truncated_pixels_are_below_1e_15_of_the_central_value() -> None:
    shape = (135, 135)
    plan = plan_sampling(BAR, shape)
    assert plan.levels[0].pixels is not None  # the bar does get truncated
    dropped = plan.factor_map() == 0
    assert dropped.sum() > shape[0] * shape[1] // 2
    point = _profile_at_centres(BAR, shape)
    centre = BAR.intensity * np.exp(sersic_b(BAR.n))  # I·e^b, the profile at r = 0
    assert point[dropped].max() < np.exp(-34.5) * centre  # ≈ 1.0e-15
    assert point[~dropped].min() < np.exp(-34.5) * centre  # the kept region is generous
    image = render_sersic(BAR, shape)
    assert not image[dropped].any()


RNG = np.random.default_rng(11)
RANDOM_CASES = [
    (
        float(RNG.uniform(0.5, 5.0)),  # n
        float(RNG.uniform(0.8, 8.0)),  # re
        float(RNG.uniform(0.2, 1.2)),  # q
        float(RNG.choice([2.0, RNG.uniform(2.0, 5.0)])),  # c
        float(RNG.uniform(0.0, 3.0)),  # roll
        (float(RNG.uniform(18, 24)), float(RNG.uniform(17, 22))),
    )
    for _ in range(12)
]


@pytest.mark.parametrize(("n", "re", "q", "c", "roll", "centre"), RANDOM_CASES)
def test_adaptive_sampling_agrees_with_uniform_x25_on_random_components(
    n: float, re: float, q: float, c: float, roll: float, centre: tuple[float, float]
) -> None:
    shape = (40, 44)
    comp = SersicComponent(
        mux=centre[0], muy=centre[1], roll=roll, re=re, q=q, intensity=1.0, n=n, c=c
    )
    adaptive = render_sersic(comp, shape)
    fine = render_sersic_plain(comp, shape, 25)
    assert adaptive.sum() == pytest.approx(fine.sum(), rel=1e-3)
    bright = fine > 0.01 * fine.max()
    assert np.max(np.abs(adaptive[bright] / fine[bright] - 1.0)) < 1e-2


PLAIN_CASES = [
    SersicComponent(mux=15.3, muy=13.8, roll=0.8, re=4.0, q=0.4, intensity=0.7, n=1.0),
    SersicComponent(mux=15.3, muy=13.8, roll=0.8, re=4.0, q=0.4, intensity=0.7, n=0.5),
    SersicComponent(mux=15.6, muy=14.1, roll=2.1, re=3.0, q=1.1, intensity=0.7, n=2.7),
    SersicComponent(mux=15.3, muy=13.8, roll=0.8, re=4.0, q=0.3, intensity=0.7, n=0.8, c=3.0),
    SersicComponent(mux=14.9, muy=14.2, roll=0.3, re=5.0, q=0.5, intensity=0.7, n=1.3, c=4.0),
    SersicComponent(mux=14.9, muy=14.2, roll=0.3, re=5.0, q=0.5, intensity=0.7, n=0.31, c=2.6),
]


@pytest.mark.parametrize("comp", PLAIN_CASES)
@pytest.mark.parametrize("oversample", [1, 3, 5])
@pytest.mark.parametrize("method", list(Method))
def test_integer_oversample_equals_the_plain_lattice(
    comp: SersicComponent, oversample: int, method: Method
) -> None:
    shape = (30, 32)
    image = render_sersic(comp, shape, oversample=oversample, method=method)
    plain = render_sersic_plain(comp, shape, oversample, method=method)
    np.testing.assert_allclose(image, plain, rtol=1e-12, atol=1e-12 * plain.max())


@pytest.mark.parametrize(
    "comp",
    [
        SersicComponent(mux=15.3, muy=13.8, roll=0.8, re=4.0, q=0.4, intensity=0.7, n=1.0),
        SersicComponent(mux=15.3, muy=13.8, roll=0.8, re=4.0, q=0.4, intensity=0.7, n=0.5),
        SersicComponent(mux=15.6, muy=14.1, roll=2.1, re=3.0, q=1.1, intensity=0.7, n=2.7),
        SersicComponent(mux=15.3, muy=13.8, roll=0.8, re=4.0, q=0.3, intensity=0.7, n=0.8, c=3.2),
        SersicComponent(mux=14.9, muy=14.2, roll=0.3, re=5.0, q=0.5, intensity=0.7, n=1.3, c=1.6),
    ],
)
@pytest.mark.parametrize("oversample", ["adaptive", 3])
def test_special_cased_profiles_have_exact_gradients(
    comp: SersicComponent, oversample: str | int
) -> None:
    shape = (30, 32)
    weights = np.random.default_rng(3).normal(size=shape)
    _, vjp = render_sersic_vjp(comp, shape, oversample=oversample)  # type: ignore[arg-type]
    grad = vjp(weights)
    for i, name in enumerate(SERSIC_PARAMETERS):
        if name == "c" and comp.c == 2.0:
            continue  # not differentiated for ellipses
        h = 1e-6 * max(1.0, abs(getattr(comp, name)))
        images = [
            render_sersic(
                comp.with_parameters(**{name: getattr(comp, name) + step}),
                shape,
                oversample=oversample,  # type: ignore[arg-type]
            )
            for step in (h, -h)
        ]
        numeric = float(np.vdot(weights, images[0] - images[1])) / (2 * h)
        assert grad[i] == pytest.approx(numeric, rel=1e-5, abs=1e-8), name


def _assert_agrees_with_plain(
    ridge: Ridge, points: np.ndarray, shape: tuple[int, int], cutoff: float
) -> None:
    """The kernel's ridge equals the plain form's, segment and t up to exact-rounding ties."""
    plain = polyline_distance_plain(points, shape, cutoff)
    np.testing.assert_array_equal(ridge.pixels, plain.pixels)
    np.testing.assert_allclose(ridge.d2, plain.d2, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ridge.offset, plain.offset, rtol=1e-10, atol=1e-10)
    same = ridge.segment == plain.segment
    np.testing.assert_allclose(ridge.t[same], plain.t[same], rtol=1e-10, atol=1e-10)
    if not same.all():  # a tie: the kernel's segment is as near, to rounding
        rows, cols = np.divmod(ridge.pixels[~same], shape[1])
        centres = np.stack([cols, rows], axis=1).astype(float)
        seg = ridge.segment[~same]
        closest = points[seg] + ridge.t[~same, None] * (points[seg + 1] - points[seg])
        d2 = ((closest - centres) ** 2).sum(axis=1)
        np.testing.assert_allclose(d2, plain.d2[~same], rtol=1e-10, atol=1e-10)


def test_distances_agree_with_the_plain_form() -> None:
    disk = SersicComponent(mux=40.2, muy=38.7, roll=0.6, re=20.0, q=0.6, intensity=0.2)
    spiral, _ = log_spiral_points(6.0, 18.0, 0.3, 3.5, disk, jacobian=False)
    rng = np.random.default_rng(5)
    walk = np.cumsum(rng.normal(scale=3.0, size=(23, 2)), axis=0) + 30.0
    repeated = walk.copy()
    repeated[7] = repeated[6]  # a zero-length segment
    lines = [
        (spiral, 11.0),
        (np.zeros((1, 2)), 5.0),  # too short: nothing
        (walk, 6.5),
        (repeated, 9.0),
        (np.array([[-50.0, -50.0], [-40.0, -45.0]]), 3.0),  # off the image
        (spiral[::-1] + 7.0, 4.0),
        (spiral[:6], 25.0),  # fewer segments than a chunk
    ]
    shape = (80, 84)
    batched = polyline_distances(lines, shape)
    for (points, cutoff), ridge in zip(lines, batched, strict=True):
        single = polyline_distance(points, shape, cutoff)
        for field in ("pixels", "d2", "segment", "t", "offset"):
            np.testing.assert_array_equal(getattr(ridge, field), getattr(single, field))
        if len(points) < 2:
            assert ridge.pixels.size == 0
            continue
        _assert_agrees_with_plain(ridge, points, shape, cutoff)


@pytest.mark.parametrize("method", list(Method))
def test_plain_convolution_is_scipys_direct_one(method: Method) -> None:
    rng = np.random.default_rng(7)
    kernel, image = rng.random((5, 3)), rng.random((9, 12))
    direct = signal.correlate2d if method == Method.REFERENCE else signal.convolve2d
    expected = direct(image, kernel, mode="same", boundary="fill", fillvalue=0.0)
    np.testing.assert_allclose(convolve_psf_plain(image, kernel, method=method), expected)
    fast = convolve_psf(image, kernel, method=method)
    np.testing.assert_allclose(fast, expected, rtol=1e-11, atol=1e-12)


def test_cached_minimally_padded_psf_matches_direct_convolution() -> None:
    rng = np.random.default_rng(8)
    kernel = rng.random((11, 9))
    kernel /= kernel.sum()
    for shape in ((6, 7), (23, 31), (135, 135)):
        image = rng.random(shape)
        expected = convolve_psf_plain(image, kernel)
        np.testing.assert_allclose(convolve_psf(image, kernel), expected, rtol=1e-11, atol=1e-12)
        op = psf_operator(kernel, shape)
        w = rng.random(shape)
        assert np.vdot(w, op(image)) == pytest.approx(np.vdot(op.adjoint(w), image), rel=1e-12)
    assert psf_operator(kernel, (23, 31)) is psf_operator(kernel.copy(), (23, 31))
    changed = kernel.copy()
    changed[5, 4] += 0.1
    assert psf_operator(changed, (23, 31)) is not psf_operator(kernel, (23, 31))
    assert isinstance(psf_operator(kernel, (23, 31), method="reference"), PSFOperator)


def test_dot_is_the_sum_of_products() -> None:
    rng = np.random.default_rng(9)
    a, b = rng.random((3, 50, 200)), rng.random((3, 50, 200))
    assert dot(a, b) == pytest.approx(float(np.sum(a * b)), rel=1e-12)


def test_distance_ties_go_to_the_lowest_segment() -> None:
    # A closed square with power-of-two sides: every distance is exact, so ties are exact.
    points = np.array([[4.0, 4.0], [12.0, 4.0], [12.0, 12.0], [4.0, 12.0], [4.0, 4.0]])
    shape = (17, 17)
    ridge = polyline_distance(points, shape, cutoff=6.0)
    ys, xs = np.divmod(ridge.pixels, shape[1])
    d2, segment, _ = nearest_on_polyline(np.stack([xs, ys], axis=1).astype(float), points)
    np.testing.assert_array_equal(ridge.d2, d2)
    np.testing.assert_array_equal(ridge.segment, segment)  # first of equals
    centre = int(np.flatnonzero(ridge.pixels == 8 * shape[1] + 8)[0])
    assert ridge.segment[centre] == 0 and ridge.d2[centre] == 16.0


def test_gauss_levels_integrate_smooth_pixels_to_the_tolerance() -> None:
    # The benchmark's thin boxy bar (moved to a smaller image): its refined pixels away from
    # the centre take a 2 × 2 or 3 × 3 Gauss rule where the midpoint rule would need 7 × 7.
    shape = (40, 40)
    bar = BAR.with_parameters(mux=19.9631, muy=20.1140)
    plan = plan_sampling(bar, shape)
    gauss = [level for level in plan.levels if level.gauss]
    assert gauss and all(level.factor <= 3 for level in gauss)
    pixels = np.concatenate([level.pixels for level in gauss])
    assert pixels.size > 300
    image = render_sersic(bar, shape).ravel()[pixels]
    fine = render_sersic(bar, shape, oversample=45).ravel()[pixels]
    bright = fine > 1e-3 * fine.max()
    assert bright.sum() > 100
    assert np.max(np.abs(image[bright] / fine[bright] - 1.0)) < 3e-3
    # A product Gauss rule of order m integrates x^a·y^b exactly for a, b < 2m: its weights
    # and nodes on a pixel reproduce the exact means of 1, x², x²y² and x³y (0, 1/12, 1/144, 0).
    for order in (2, 3):
        nodes, weights = sub_offsets(order, True), gauss_weights(order)[:, :, 0]
        y, x = nodes[:, None], nodes[None, :]
        for integrand, exact in (
            (1.0 + 0 * x, 1.0),
            (x**2 + 0 * y, 1 / 12),
            (x**2 * y**2, 1 / 144),
            (x**3 * y, 0.0),
        ):
            assert np.sum(weights * integrand) == pytest.approx(exact, abs=1e-15)
