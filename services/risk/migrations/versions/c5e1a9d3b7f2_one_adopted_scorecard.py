"""scorecard versions: at most one adopted (partial unique index)

Revision ID: c5e1a9d3b7f2
Revises: 9d4c2a7f5e83
Create Date: 2026-11-30 20:45:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = 'c5e1a9d3b7f2'
down_revision: Union[str, None] = '9d4c2a7f5e83'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ADOPTED = sa.text("status = 'adopted'")


def upgrade() -> None:
    # A database where two adoptions once raced has two adopted versions: the one decided last stays adopted
    # (the other is marked superseded, as a serial run would have left it), so the index can be built.
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT version FROM score_model WHERE status = 'adopted' "
                                "ORDER BY decided_at DESC, version DESC")).scalars().all()
    if len(rows) > 1:
        bind.execute(sa.text("UPDATE score_model SET status = 'superseded' WHERE status = 'adopted' AND version <> :keep"),
                     {"keep": rows[0]})
    with op.batch_alter_table('score_model', schema=None) as batch_op:
        batch_op.create_index('uq_score_model_one_adopted', ['status'], unique=True,
                              postgresql_where=ADOPTED, sqlite_where=ADOPTED)


def downgrade() -> None:
    with op.batch_alter_table('score_model', schema=None) as batch_op:
        batch_op.drop_index('uq_score_model_one_adopted', postgresql_where=ADOPTED, sqlite_where=ADOPTED)
