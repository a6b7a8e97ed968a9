"""Classifications remember where they came from and a hash of what they say.

``classifications`` gains ``source_file`` and ``source_row`` (the export and its 1-based data
row that the stored copy was read from) and ``content_sha256`` (SHA-256 of the fields that
make a classification what it is: subject, user, workflow version, time and drawing). A
re-ingested row under a known id is compared by that hash; a difference is recorded in
``ingest_errors`` with both copies' provenance. Rows stored before this revision have NULL in
all three (their provenance is not known; their hash is computed when they are compared).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 11:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("classifications", sa.Column("source_file", sa.Text(), nullable=True))
    op.add_column("classifications", sa.Column("source_row", sa.Integer(), nullable=True))
    op.add_column("classifications", sa.Column("content_sha256", sa.String(64), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite ≥ 3.35): a batch copy would drop the view that reads the table.
    op.drop_column("classifications", "content_sha256")
    op.drop_column("classifications", "source_row")
    op.drop_column("classifications", "source_file")
