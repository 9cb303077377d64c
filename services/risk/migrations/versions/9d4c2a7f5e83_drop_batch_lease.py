"""monthly batch by advisory lock: batch_run keeps the record, not the lease

Revision ID: 9d4c2a7f5e83
Revises: 40de9fac7186
Create Date: 2026-11-30 17:00:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import shared.db


revision: str = '9d4c2a7f5e83'
down_revision: Union[str, None] = '40de9fac7186'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # once per cluster is shared.leader now (PostgreSQL advisory lock); batch_run records the runs
    with op.batch_alter_table('batch_run', schema=None) as batch_op:
        batch_op.drop_column('lease_until')


def downgrade() -> None:
    with op.batch_alter_table('batch_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_until', shared.db.UTCDateTime(timezone=True), nullable=False,
                                      server_default=sa.text("'1970-01-01 00:00:00'")))
