"""timer leadership by advisory lock: drop the lease table

Revision ID: 3b8f6d2e9c17
Revises: 8dfdd997d643
Create Date: 2026-11-30 17:00:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel
import shared.db


revision: str = '3b8f6d2e9c17'
down_revision: Union[str, None] = '8dfdd997d643'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # once per cluster is shared.leader now (PostgreSQL advisory lock), not a lease row
    op.drop_table('lease')


def downgrade() -> None:
    op.create_table('lease',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('holder', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('expires_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_lease'))
    )
