"""Evaluating a Sérsic profile on a sampling plan's levels, keeping what the gradient reuses.

With ``(dx, dy) = (mux − x, muy − y)`` at each sub-sample, the profile over I is::

    e = exp( −b · ( (r/re)^(1/n) − 1 ) ),   r = ( |u|^c + |v|^c )^(1/c),
    u = ( cos(roll)·dx + sin(roll)·dy ) / q,   v = −sin(roll)·dx + cos(roll)·dy

(:func:`gzbcat.rendering.sersic.sersic_profile` is the plain form). A render is a few dozen
numpy passes over arrays of ~1e4 samples, so :func:`evaluate_level` is written to need few
passes and few transcendentals, and keeps the intermediates that
:func:`gzbcat.rendering.sersic.render_sersic_vjp` needs.

Layout: a level's samples form an array (f, f, *pixel_shape), sub-row index first, then
sub-column, then the pixels, which are (H, W) for a whole-image level and (P,) for a pixel
list. Pixel means are then a sum over the leading axis of a (f², pixels) view (a reduction
over short trailing axes is much slower), and per-pixel weights broadcast against the
samples without being repeated. Offsets (mux − x, muy − y) are kept as broadcastable
(1, f, …) and (f, 1, …) arrays, so that the quadratic form costs three passes over the samples.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from gzbcat.model import SersicComponent
from gzbcat.rendering._sampling import SMALL_INTEGER_C, Level, integer_power

__all__ = ["Samples", "evaluate_level", "gauss_weights", "sub_offsets"]

R2_EPS = 1e-20
"""Added to r² so that a sample exactly on the centre has finite derivatives (spec §7.2)."""
ABS_FLOOR = 1e-150
"""Floor on |u|, |v| in the boxy path, for the same reason (log|u| and |u|^c/u at u = 0)."""


@functools.lru_cache(maxsize=64)
def sub_offsets(factor: int, gauss: bool = False) -> np.ndarray:
    """Sub-sample positions within a pixel, relative to its centre.

    Midpoint lattice: (k + ½)/N − ½; Gauss: the N Gauss–Legendre nodes mapped to [−½, ½].
    """
    if gauss:
        out = np.polynomial.legendre.leggauss(factor)[0] / 2.0
    else:
        out = (np.arange(factor) + 0.5) / factor - 0.5
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=64)
def gauss_weights(factor: int) -> np.ndarray:
    """(N, N, 1) product Gauss–Legendre weights of a pixel's samples, summing to 1."""
    weights = np.polynomial.legendre.leggauss(factor)[1] / 2.0
    out = (weights[:, None] * weights[None, :])[:, :, None]
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=64)
def _grid_axes(shape: tuple[int, int], factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Sub-sample x (1, N, 1, W) and y (N, 1, H, 1) of a whole-image lattice (read-only)."""
    sub = sub_offsets(factor)
    xs = np.arange(shape[1], dtype=np.float64)[None, None, None, :] + sub[None, :, None, None]
    ys = np.arange(shape[0], dtype=np.float64)[None, None, :, None] + sub[:, None, None, None]
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def _offsets(
    comp: SersicComponent, level: Level, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Broadcastable (mux − x, muy − y) of a level's sub-samples (pixel centres at integers)."""
    if level.pixels is None:
        xs, ys = _grid_axes(shape, level.factor)
        return comp.mux - xs, comp.muy - ys
    sub = sub_offsets(level.factor, level.gauss)
    rows, cols = np.divmod(level.pixels, shape[1])
    dx = (comp.mux - cols)[None, None, :] - sub[None, :, None]
    dy = (comp.muy - rows)[None, None, :] - sub[:, None, None]
    return dx, dy


@dataclass
class Samples:
    """One level's profile samples and the intermediates its gradient reuses."""

    level: Level
    dx: np.ndarray  # broadcastable mux − x
    dy: np.ndarray  # broadcastable muy − y
    mean: np.ndarray  # pixel means of e (pixel shape)
    e: np.ndarray  # exp(−b (s − 1)): the profile over I
    s: np.ndarray  # (r/re)^(1/n)
    r2: np.ndarray | None = None  # ellipse path: u² + v² (+ε)
    log_r2: np.ndarray | None = None  # its log, when it was needed for the forward pass
    u: np.ndarray | None = None  # boxy path from here on
    v: np.ndarray | None = None
    abs_u: np.ndarray | None = None  # max(|u|, floor)
    abs_v: np.ndarray | None = None
    pow_u: np.ndarray | None = None  # |u|^c
    pow_v: np.ndarray | None = None
    log_u: np.ndarray | None = None  # ln max(|u|, floor), unless c is a small integer
    log_v: np.ndarray | None = None
    total: np.ndarray | None = None  # |u|^c + |v|^c (+ε)
    log_total: np.ndarray | None = None


def evaluate_level(
    comp: SersicComponent, b: float, level: Level, shape: tuple[int, int]
) -> Samples:
    """Evaluate exp(−b((r/re)^(1/n) − 1)) on a level's sub-samples; keep what the VJP needs.

    Transcendentals are the cost, so they are minimised: the ellipse radius is a quadratic
    form in the offsets; ``(r/re)^(1/n)`` is one log and one exp (a square root for the
    exponential disk, nothing for n = 1/2); the boxy ``|u|^c`` is exp(c·ln|u|), cheaper than a
    power, with ln|u| kept for the c-derivative. Arithmetic is in place where it
    saves a sample-sized temporary.
    """
    dx, dy = _offsets(comp, level, shape)
    cos, sin = math.cos(comp.roll), math.sin(comp.roll)
    q, n, re, c = float(comp.q), float(comp.n), float(comp.re), float(comp.c)
    out = Samples(level, dx, dy, np.empty(0), np.empty(0), np.empty(0))
    if c == 2.0:
        # u² + v² with u = (cos dx + sin dy)/q, v = −sin dx + cos dy
        a_xx = (cos / q) ** 2 + sin**2
        a_xy = 2.0 * cos * sin * (1.0 / q**2 - 1.0)
        a_yy = (sin / q) ** 2 + cos**2
        r2 = (a_xy * dx) * dy
        r2 += a_xx * dx * dx
        r2 += a_yy * dy * dy + R2_EPS
        out.r2 = r2
        if n == 1.0:
            s = np.sqrt(r2)
            s *= 1.0 / re
        elif n == 0.5:
            s = r2 * (1.0 / re**2)
        else:
            log_r2 = np.log(r2)
            out.log_r2 = log_r2
            s = log_r2 * (0.5 / n)
            s -= math.log(re) / n
            np.exp(s, out=s)
    else:
        u = (cos / q) * dx + (sin / q) * dy
        v = (-sin) * dx + cos * dy
        abs_u = np.abs(u)
        np.maximum(abs_u, ABS_FLOOR, out=abs_u)
        abs_v = np.abs(v)
        np.maximum(abs_v, ABS_FLOOR, out=abs_v)
        log_u = log_v = None
        if c in SMALL_INTEGER_C:
            # |u|^c by repeated products, no transcendentals (ln|u| is left to the VJP).
            pow_u = integer_power(abs_u, int(c))
            pow_v = integer_power(abs_v, int(c))
        else:
            # |u|^c as exp(c·ln|u|): cheaper than np.power, and the gradient reuses ln|u|.
            log_u = np.log(abs_u)
            pow_u = log_u * c
            np.exp(pow_u, out=pow_u)
            log_v = np.log(abs_v)
            pow_v = log_v * c
            np.exp(pow_v, out=pow_v)
        total = pow_u + pow_v
        total += R2_EPS
        log_total = np.log(total)
        s = log_total * (1.0 / (c * n))
        s -= math.log(re) / n
        np.exp(s, out=s)
        out.u, out.v, out.abs_u, out.abs_v = u, v, abs_u, abs_v
        out.pow_u, out.pow_v = pow_u, pow_v
        out.log_u, out.log_v = log_u, log_v
        out.total, out.log_total = total, log_total
    e = s * (-b)
    e += b
    np.exp(e, out=e)
    out.s, out.e = s, e
    pixel_shape = shape if level.pixels is None else level.pixels.shape
    f = level.factor
    if f == 1:
        out.mean = e.reshape(pixel_shape)
    elif level.gauss:
        out.mean = gauss_weights(f).reshape(f * f) @ e.reshape(f * f, -1)
    else:
        out.mean = e.reshape(f * f, -1).sum(axis=0).reshape(pixel_shape)
        out.mean *= 1.0 / (f * f)
    return out
