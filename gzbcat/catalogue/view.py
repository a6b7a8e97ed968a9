"""The ``catalogue`` view: one row per subject, generated from :data:`CATALOGUE_COLUMNS`.

The view is created by an Alembic revision that holds its SQL as a frozen string (revisions
must not change when the code does); :func:`view_sql` generates the same text from the column
list, and a test checks that the head revision's SQL equals it. To change the view, edit
``columns.py``, run ``python -m gzbcat.catalogue.view`` and paste its output into a new
revision that drops and recreates the view.

The SQL is identical on SQLite and PostgreSQL: common table expressions, correlated scalar
subqueries, ``LEFT JOIN``, ``CASE``, ``COALESCE``, ``NULLIF`` and ``SQRT``. ``SQRT`` needs an
SQLite built with its math functions (3.35+, as in CPython's and Debian's builds); on one that
lacks them :func:`gzbcat.db.dialect.ensure_sqrt` supplies it.

Notes
-----
Picking the models, per subject and family (aggregate, best individual):

- the tuned model is the newest (highest ``model_id``) ``models`` row of kind ``tuned`` whose
  ``source_model_id`` is a model of the family's kind;
- the source model is that tuned model's ``source_model_id``, or, with no tuned model yet, the
  newest model of the family's kind;
- the arm model is the tuned model, or the source model until there is one: arm counts and
  pitch angles are there before tuning, and after it they are the tuned arms' (a
  ``corrected`` fit moves the arms' log-spiral geometry; a ``reference`` one holds it with
  spec §8.3's priors).

Component parameters and fit results are LEFT JOINed to the tuned model and stay NULL until
the tuning stage has written it; every subject has exactly one row either way.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from gzbcat.catalogue.columns import CATALOGUE_COLUMNS, COMPONENTS, FAMILIES, N_ARM_COLUMNS

__all__ = ["VIEW_NAME", "create_view", "drop_view", "view_select_sql", "view_sql"]

VIEW_NAME = "catalogue"


def _picked_ids_columns() -> list[str]:
    columns = []
    for prefix, kind, _ in FAMILIES:
        columns.append(
            "        (SELECT MAX(t.model_id) FROM models AS t\n"
            "            JOIN models AS o ON o.model_id = t.source_model_id\n"
            "            WHERE t.subject_id = s.subject_id AND t.kind = 'tuned'\n"
            f"                AND o.kind = '{kind}')\n"
            f"            AS {prefix}tuned_model_id"
        )
        columns.append(
            "        (SELECT MAX(m.model_id) FROM models AS m\n"
            f"            WHERE m.subject_id = s.subject_id AND m.kind = '{kind}')\n"
            f"            AS {prefix}newest_source_model_id"
        )
    return columns


def _picked_columns() -> list[str]:
    columns = ["        i.subject_id"]
    for prefix, _, _ in FAMILIES:
        columns.append(f"        i.{prefix}tuned_model_id")
        columns.append(
            "        COALESCE((SELECT t.source_model_id FROM models AS t\n"
            f"                WHERE t.model_id = i.{prefix}tuned_model_id),\n"
            f"            i.{prefix}newest_source_model_id) AS {prefix}source_model_id"
        )
        columns.append(
            f"        COALESCE(i.{prefix}tuned_model_id, i.{prefix}newest_source_model_id)"
            f" AS {prefix}arm_model_id"
        )
    return columns


def _arm_stats(prefix: str) -> str:
    """Arm count and the combined pitch angle of spec §6.8 for the family's arm model.

    ``w`` is an arm's weight (its length) where it has a pitch angle and a length, else NULL,
    so that such arms drop out of both sums; ``missing_err`` marks a weighted arm without an
    error, which makes the combined error NULL rather than too small.
    """
    return (
        f"{prefix}arm_stats AS (\n"
        "    SELECT u.model_id,\n"
        "        COUNT(*) AS n_arms,\n"
        "        SUM(u.w * u.pitch_angle_deg) / NULLIF(SUM(u.w), 0) AS pitch_angle_deg,\n"
        "        CASE WHEN COUNT(u.missing_err) = 0\n"
        "            THEN SQRT(SUM(u.w * u.w * u.pitch_angle_err_deg * u.pitch_angle_err_deg))\n"
        "                / NULLIF(SUM(u.w), 0)\n"
        "        END AS pitch_angle_err_deg\n"
        "    FROM (\n"
        "        SELECT a.model_id, a.pitch_angle_deg, a.pitch_angle_err_deg,\n"
        "            CASE WHEN a.pitch_angle_deg IS NOT NULL THEN a.length_px END AS w,\n"
        "            CASE WHEN a.pitch_angle_deg IS NOT NULL AND a.length_px IS NOT NULL\n"
        "                AND a.pitch_angle_err_deg IS NULL THEN 1 END AS missing_err\n"
        f"        FROM picked AS p JOIN arms AS a ON a.model_id = p.{prefix}arm_model_id\n"
        "    ) AS u\n"
        "    GROUP BY u.model_id\n"
        ")"
    )


def _joins() -> list[str]:
    joins = ["FROM subjects AS s", "JOIN picked AS p ON p.subject_id = s.subject_id"]
    for prefix, _, _ in FAMILIES:
        tuned = f"p.{prefix}tuned_model_id"
        arms = f"p.{prefix}arm_model_id"
        joins.append(f"LEFT JOIN fits AS {prefix}fit ON {prefix}fit.model_id = {tuned}")
        for component in COMPONENTS:
            alias = f"{prefix}{component}"
            joins.append(
                f"LEFT JOIN components AS {alias} ON {alias}.model_id = {tuned}\n"
                f"    AND {alias}.component = '{component}'"
            )
        joins.append(f"LEFT JOIN {prefix}arm_stats ON {prefix}arm_stats.model_id = {arms}")
        for i in range(N_ARM_COLUMNS):
            alias = f"{prefix}arm{i}"
            joins.append(
                f"LEFT JOIN arms AS {alias} ON {alias}.model_id = {arms}"
                f" AND {alias}.arm_index = {i}"
            )
    return joins


def view_select_sql() -> str:
    """The view's ``SELECT`` statement (without ``CREATE VIEW``)."""
    ctes = [
        "picked_ids AS (\n    SELECT\n        s.subject_id,\n"
        + ",\n".join(_picked_ids_columns())
        + "\n    FROM subjects AS s\n)",
        "picked AS (\n    SELECT\n"
        + ",\n".join(_picked_columns())
        + "\n    FROM picked_ids AS i\n)",
        *(_arm_stats(prefix) for prefix, _, _ in FAMILIES),
    ]
    select = ",\n".join(f"    {column.sql} AS {column.name}" for column in CATALOGUE_COLUMNS)
    return "WITH " + ",\n".join(ctes) + "\nSELECT\n" + select + "\n" + "\n".join(_joins())


def view_sql() -> str:
    """``CREATE VIEW catalogue AS …``, exactly as the head Alembic revision runs it."""
    return f"CREATE VIEW {VIEW_NAME} AS\n{view_select_sql()}"


def create_view(connection: Connection) -> None:
    """Create the view from the current column list (tests and ad-hoc databases only).

    Real databases get the view from the Alembic revision, which must equal this SQL.
    """
    connection.execute(text(view_sql()))


def drop_view(connection: Connection) -> None:
    """Drop the view if it exists (both backends accept ``DROP VIEW IF EXISTS``)."""
    connection.execute(text(f"DROP VIEW IF EXISTS {VIEW_NAME}"))


if __name__ == "__main__":
    print(view_sql())
