"""What the renderer does differently under each science method (spec §7, §12.1, §13).

=========================  ==============================  ====================================
                           ``corrected`` (default)         ``reference``
=========================  ==============================  ====================================
pixel integration          adaptive (see ``sersic``)       uniform ×5 lattice
b_n for n < 0.36           exact root                      Ciotti–Bertin series
arm brightness profile     disk profile with re/falloff,   disk profile with re/falloff on the
                           sampled like the disk           pixel grid (the reference helper)
arms when the disk turns   fixed on the sky                turned by twice the disk's turn
PSF                        convolution                     cross-correlation
=========================  ==============================  ====================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gzbcat.model import MethodTable

__all__ = ["EXACT_B_BELOW_N", "RENDERING_RULES", "Oversample", "RenderingRules"]

Oversample = int | Literal["adaptive"]
"""Sub-pixel lattice: an integer factor per axis (uniform), or ``"adaptive"``."""

EXACT_B_BELOW_N = 0.36
"""Below this n the Ciotti–Bertin series for b_n is poor (spec §7.2, §12.1 #22)."""


@dataclass(frozen=True)
class RenderingRules:
    """The renderer's switches for one method (see the module table).

    Attributes
    ----------
    default_oversample
        Pixel integration unless the caller asks for another.
    exact_b_below_n
        b_n is the exact root of Γ(2n)/2 = γ(2n, b) below this n, the series above (0: the
        series everywhere).
    arm_profile_oversample
        Lattice of the disk profile an arm multiplies when it is rendered on its own
        (``re/falloff``); None samples it like the disk, so at falloff 1 it is the disk image.
    arm_roll_sign
        θ' = θ + sign·(roll − base_roll) places a fitted arm when the disk has turned since
        the arm was measured: −1 keeps the arm fixed on the sky (exactly at q = 1, spec §8.6),
        +1 is the reference's turn by twice the disk's.
    psf_correlates
        Apply the PSF as a cross-correlation (the kernel not flipped, spec §12.1 #21) instead
        of a convolution.
    """

    default_oversample: Oversample
    exact_b_below_n: float
    arm_profile_oversample: int | None
    arm_roll_sign: float
    psf_correlates: bool


RENDERING_RULES: MethodTable[RenderingRules] = MethodTable.from_columns(
    RenderingRules,
    # switch = (corrected, reference)
    default_oversample=("adaptive", 5),
    exact_b_below_n=(EXACT_B_BELOW_N, 0.0),
    arm_profile_oversample=(None, 1),
    arm_roll_sign=(-1.0, 1.0),
    psf_correlates=(False, True),
)
