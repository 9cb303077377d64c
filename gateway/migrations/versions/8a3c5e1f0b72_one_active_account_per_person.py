"""one active account per directory person

A person of the directory (执法人员、技术专家) has at most one active account. The gateway checks it
before writing; this partial unique index makes two concurrent creations (or reactivations) for one
person impossible on PostgreSQL too, where the check alone runs under READ COMMITTED.

Revision ID: 8a3c5e1f0b72
Revises: 5c0a1e7b2f41
Create Date: 2026-12-01 03:05:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '8a3c5e1f0b72'
down_revision: Union[str, None] = '5c0a1e7b2f41'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

WHERE = "active AND person_id IS NOT NULL"


def upgrade() -> None:
    dup = op.get_bind().execute(sa.text(
        f"SELECT person_id FROM user_account WHERE {WHERE} GROUP BY person_id HAVING COUNT(*) > 1")).first()
    if dup is not None:
        raise RuntimeError(f"person {dup[0]} has more than one active account; deactivate all but one, then upgrade "
                           "(no account is changed by a migration)")
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.create_index('uq_user_account_active_person', ['person_id'], unique=True,
                              postgresql_where=sa.text(WHERE), sqlite_where=sa.text(WHERE))


def downgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_index('uq_user_account_active_person', postgresql_where=sa.text(WHERE), sqlite_where=sa.text(WHERE))
