"""evidence: who uploaded each file (enterprise or bureau), so an enterprise sees only its own and shared files

Revision ID: b3c8e1f27a45
Revises: 7e2b9c4d1a06
Create Date: 2026-11-30 20:30:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision: str = 'b3c8e1f27a45'
down_revision: Union[str, None] = '7e2b9c4d1a06'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Files stored before this revision cannot be told apart (uploaded_by is a user name): they count as the
    # bureau's, the restrictive choice. An enterprise still sees those attached to its reports, the handling,
    # rechecks and decided outcomes it can see; a file of its own not cited anywhere it can upload again.
    with op.batch_alter_table('rect_evidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('uploaded_as', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False,
                                      server_default='bureau'))


def downgrade() -> None:
    with op.batch_alter_table('rect_evidence', schema=None) as batch_op:
        batch_op.drop_column('uploaded_as')
