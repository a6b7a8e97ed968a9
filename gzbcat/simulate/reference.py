"""Pitch angles of real galaxies from Hart et al. (2017), for simulated galaxies to take over.

A simulated galaxy borrows a real subject's image set-up and metadata (:mod:`.setups`), so it
stands in for a real galaxy with a known SDSS DR7 id. When the Hart et al. (2017) table is
given, its arms take that galaxy's measured pitch angle instead of a random one, and a
comparison of the pipeline's pitch angles with Hart's becomes a real check.

Hart et al. give two pitch-angle magnitudes (degrees; ``-999`` where there is none):
``psi_sparcfire``, measured on the SDSS image by SpArcFiRe, and ``psi_gz2``, their estimate from
the Galaxy Zoo 2 arm-winding votes, given for every galaxy. :func:`hart_pitch_deg` takes the
measurement where there is one and the estimate otherwise; the table has no arm chirality.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "HART_MISSING",
    "HartPitch",
    "HartTableError",
    "hart_pitch_deg",
    "read_hart_pitches",
]

HART_MISSING = -999.0
"""What Hart et al. write where a value was not measured."""

_COLUMNS = ("dr7objid", "psi_sparcfire", "psi_gz2")


class HartTableError(ValueError):
    """The Hart et al. (2017) table cannot be read (which file, which row, what is wrong)."""


@dataclass(frozen=True)
class HartPitch:
    """The pitch angle a simulated galaxy takes from its real galaxy's row.

    Attributes
    ----------
    dr7objid
        The SDSS DR7 object id that keys the row.
    pitch_angle_deg
        Pitch-angle magnitude, degrees (:func:`hart_pitch_deg` of the row).
    column
        The column it came from: ``"psi_sparcfire"`` or ``"psi_gz2"``.
    """

    dr7objid: int
    pitch_angle_deg: float
    column: str


def _value(text: str) -> float | None:
    """A Hart value as a float, None where it is missing (``-999``, empty or not finite)."""
    if not text.strip():
        return None
    value = float(text)
    return None if value == HART_MISSING or not math.isfinite(value) else value


def hart_pitch_deg(
    psi_sparcfire: float | None, psi_gz2: float | None
) -> tuple[float, str] | tuple[None, None]:
    """The pitch-angle magnitude (degrees) to use for a Hart row, and its column.

    SpArcFiRe's measurement where there is one, else the GZ2-vote estimate; ``(None, None)``
    when neither is there. The demo compares with the same value, so this rule lives once.
    """
    if psi_sparcfire is not None:
        return abs(float(psi_sparcfire)), "psi_sparcfire"
    if psi_gz2 is not None:
        return abs(float(psi_gz2)), "psi_gz2"
    return None, None


def read_hart_pitches(path: Path) -> dict[int, HartPitch]:
    """Each galaxy's pitch angle in the Hart et al. (2017) CSV, keyed by SDSS DR7 object id.

    Rows without a pitch angle are left out.

    Raises
    ------
    HartTableError
        If the file cannot be read, lacks a needed column, or has a value that is not a number.
    """
    path = Path(path)
    pitches: dict[int, HartPitch] = {}
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in _COLUMNS if name not in (reader.fieldnames or [])]
            if missing:
                raise HartTableError(f"{path}: no column {', '.join(missing)}")
            for line, row in enumerate(reader, start=2):
                try:
                    dr7objid = int(row["dr7objid"])
                    pitch, column = hart_pitch_deg(
                        _value(row["psi_sparcfire"]), _value(row["psi_gz2"])
                    )
                except (TypeError, ValueError) as error:
                    raise HartTableError(f"{path}, line {line}: {error}") from None
                if pitch is not None and column is not None:
                    pitches[dr7objid] = HartPitch(dr7objid, pitch, column)
    except (OSError, UnicodeDecodeError) as error:
        raise HartTableError(f"{path}: cannot be read ({error})") from None
    return pitches
