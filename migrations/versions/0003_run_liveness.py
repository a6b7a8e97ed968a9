"""Runs say which process they ran in and when it was last seen; units count their attempts.

``runs`` gains ``pid`` (with ``host``: a run whose process is gone on its host was
interrupted), ``last_seen_at`` (a heartbeat written while a stage runs, for runs on other
hosts) and ``units_done`` / ``units_failed`` (what a run finished, interrupted or not).

``stage_units.attempts`` now counts the computes started since the unit last became due, so
that a unit whose process keeps dying can be failed after ``--max-attempts``; until now it
counted every claim ever made. Units are brought to the new meaning: pending ones have
started nothing, others at most once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("pid", sa.Integer(), nullable=True))
    op.add_column("runs", sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("runs", sa.Column("units_done", sa.Integer(), server_default="0", nullable=False))
    op.add_column(
        "runs", sa.Column("units_failed", sa.Integer(), server_default="0", nullable=False)
    )
    op.execute(
        "UPDATE stage_units SET attempts = CASE "
        "WHEN state = 'pending' THEN 0 WHEN attempts > 1 THEN 1 ELSE attempts END"
    )


def downgrade() -> None:
    # The catalogue view does not read runs, so the batch copy of runs on SQLite is safe.
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("units_failed")
        batch.drop_column("units_done")
        batch.drop_column("last_seen_at")
        batch.drop_column("pid")
