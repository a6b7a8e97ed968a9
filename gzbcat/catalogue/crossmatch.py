"""Match subjects to an imported external table on the sky, into ``crossmatches``.

Positions are J2000 degrees on both sides (``subjects.ra_deg``/``dec_deg`` and the table's
registered ``--ra``/``--dec`` columns); astropy's ``SkyCoord`` does the matching. By default
each subject gets its nearest row if that lies within the radius; ``all_matches`` keeps every
row within it. A run replaces the table's earlier matches in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Engine, delete, select, text

from gzbcat.catalogue.external import ROW_INDEX, ExternalTableError, registered_table
from gzbcat.db import schema
from gzbcat.db.engine import session_scope

__all__ = ["CrossmatchError", "CrossmatchSummary", "crossmatch"]

INSERT_CHUNK = 5000


class CrossmatchError(ValueError):
    """The cross-match cannot run (unknown table, no positions, bad radius)."""


@dataclass
class CrossmatchSummary:
    """What a cross-match did."""

    name: str
    radius_arcsec: float
    all_matches: bool
    n_subjects: int
    n_without_position: int
    n_matched: int
    n_unmatched: int
    n_pairs: int
    n_table_rows: int
    median_separation_arcsec: float | None
    max_separation_arcsec: float | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _row_key(value: Any) -> str:
    """A key value as ``crossmatches.row_key`` text: integers without a trailing ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def crossmatch(
    engine: Engine, name: str, radius_arcsec: float, *, all_matches: bool = False
) -> CrossmatchSummary:
    """Match every subject with a position to rows of external table ``name``.

    Parameters
    ----------
    engine
        The gzbcat database.
    name
        An imported table (``gzbcat import-table … --name NAME --ra … --dec …``).
    radius_arcsec
        Largest separation kept, arcseconds.
    all_matches
        Keep every row within the radius, not only the nearest.

    Returns
    -------
    CrossmatchSummary
        Subjects matched and unmatched, pairs written and their separations.

    Notes
    -----
    ``crossmatches.row_key`` is the row's first key column as text (``--key`` at import),
    or its 0-based ``row_index`` if the table has no key.
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord, match_coordinates_sky, search_around_sky

    if not np.isfinite(radius_arcsec) or radius_arcsec <= 0:
        raise CrossmatchError(f"the radius must be a positive angle, not {radius_arcsec} arcsec")
    try:
        registration = registered_table(engine, name)
    except ExternalTableError as error:
        raise CrossmatchError(str(error)) from None
    if not registration.ra_column or not registration.dec_column:
        raise CrossmatchError(
            f"external table {name!r} has no position columns: import it again with "
            "--ra COLUMN --dec COLUMN"
        )
    key_column = registration.key_columns[0] if registration.key_columns else ROW_INDEX
    with session_scope(engine, write=True) as session:
        subjects = session.execute(
            select(schema.Subject.subject_id, schema.Subject.ra_deg, schema.Subject.dec_deg)
        ).all()
        # Identifiers come from external_tables, which only import_table writes (validated
        # names); they are quoted anyway.
        quote = session.get_bind().dialect.identifier_preparer.quote
        rows = session.execute(
            text(
                f"SELECT {quote(key_column)}, {quote(registration.ra_column)}, "
                f"{quote(registration.dec_column)} FROM {quote(registration.table)} "
                f"WHERE {quote(registration.ra_column)} IS NOT NULL "
                f"AND {quote(registration.dec_column)} IS NOT NULL"
            )
        ).all()
        placed = [s for s in subjects if s.ra_deg is not None and s.dec_deg is not None]
        pairs: list[tuple[int, str, float]] = []
        if placed and rows:
            targets = SkyCoord(
                ra=np.array([s.ra_deg for s in placed], dtype=float) * u.deg,
                dec=np.array([s.dec_deg for s in placed], dtype=float) * u.deg,
            )
            catalog = SkyCoord(
                ra=np.array([r[1] for r in rows], dtype=float) * u.deg,
                dec=np.array([r[2] for r in rows], dtype=float) * u.deg,
            )
            radius = radius_arcsec * u.arcsec
            if all_matches:
                i_subject, i_row, separation, _ = search_around_sky(targets, catalog, radius)
            else:
                i_row, separation, _ = match_coordinates_sky(targets, catalog)
                i_subject = np.arange(len(placed))
                keep = separation <= radius
                i_subject, i_row, separation = i_subject[keep], i_row[keep], separation[keep]
            arcsec = separation.to_value(u.arcsec)
            order = np.argsort(arcsec, kind="stable")
            seen: set[tuple[int, str]] = set()
            for i, j, sep in zip(
                i_subject[order].tolist(), i_row[order].tolist(), arcsec[order], strict=True
            ):
                pair = (int(placed[i].subject_id), _row_key(rows[j][0]))
                if pair in seen:  # two rows share a key value: keep the nearer
                    continue
                seen.add(pair)
                pairs.append((*pair, float(sep)))
        session.execute(delete(schema.Crossmatch).where(schema.Crossmatch.table_name == name))
        table = schema.Crossmatch.__table__
        for start in range(0, len(pairs), INSERT_CHUNK):
            session.execute(
                table.insert(),
                [
                    {
                        "subject_id": subject_id,
                        "table_name": name,
                        "row_key": row_key,
                        "separation_arcsec": sep,
                    }
                    for subject_id, row_key, sep in pairs[start : start + INSERT_CHUNK]
                ],
            )
    matched = {p[0] for p in pairs}
    separations = np.array([p[2] for p in pairs])
    return CrossmatchSummary(
        name=name,
        radius_arcsec=float(radius_arcsec),
        all_matches=all_matches,
        n_subjects=len(subjects),
        n_without_position=len(subjects) - len(placed),
        n_matched=len(matched),
        n_unmatched=len(subjects) - len(matched),
        n_pairs=len(pairs),
        n_table_rows=len(rows),
        median_separation_arcsec=float(np.median(separations)) if pairs else None,
        max_separation_arcsec=float(separations.max()) if pairs else None,
    )
