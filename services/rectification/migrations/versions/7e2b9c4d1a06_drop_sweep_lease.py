"""sweep leadership by advisory lock: drop the lease table

Revision ID: 7e2b9c4d1a06
Revises: fd481981c827
Create Date: 2026-11-30 17:00:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel
import shared.db


revision: str = '7e2b9c4d1a06'
down_revision: Union[str, None] = 'fd481981c827'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # once per cluster is shared.leader now (PostgreSQL advisory lock), not a lease row
    op.drop_table('rect_sweep_lease')


def downgrade() -> None:
    op.create_table('rect_sweep_lease',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('holder', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('expires_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_run_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_run_on', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_rect_sweep_lease'))
    )
