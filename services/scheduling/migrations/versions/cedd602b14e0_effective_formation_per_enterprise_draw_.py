"""effective formation per enterprise draw: voided formations kept and superseded

An inspector draw abandoned and drawn again left the plan stuck: the formation built on the
abandoned draw kept ``enterprise_draw_id`` unique. The unique constraint becomes a partial unique
index over the *effective* (not voided) formations; formations already voided by an abandoned
draw get ``voided_at``/``void_reason``/``voided_draw_id`` from that draw.

Revision ID: cedd602b14e0
Revises: 846a99b1b780
Create Date: 2026-11-30 20:23:49.290807
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel
import shared.db


revision: str = 'cedd602b14e0'
down_revision: Union[str, None] = '846a99b1b780'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voided_at', shared.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('void_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('voided_draw_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('supersedes', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('superseded_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))

    # formations on a draw already abandoned: voided as of the draw's abandonment
    for column in ('enterprise_draw_id', 'inspector_draw_id'):
        op.execute(sa.text(
            f"UPDATE assignment SET voided_at = (SELECT d.abandoned_at FROM draw d WHERE d.draw_id = assignment.{column}), "
            f"void_reason = (SELECT d.abandon_reason FROM draw d WHERE d.draw_id = assignment.{column}), "
            f"voided_draw_id = assignment.{column} "
            f"WHERE voided_at IS NULL AND EXISTS (SELECT 1 FROM draw d WHERE d.draw_id = assignment.{column} AND d.abandoned_at IS NOT NULL)"))

    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_assignment_enterprise_draw_id'), type_='unique')
        batch_op.create_index('uq_assignment_effective_enterprise_draw', ['enterprise_draw_id'], unique=True,
                              postgresql_where=sa.text('voided_at IS NULL'), sqlite_where=sa.text('voided_at IS NULL'))


def downgrade() -> None:
    # one formation per enterprise draw again: impossible once a voided formation was superseded
    # (both rows are records of what was dispatched); refuse rather than delete either
    dup = op.get_bind().execute(sa.text(
        "SELECT enterprise_draw_id FROM assignment GROUP BY enterprise_draw_id HAVING COUNT(*) > 1")).first()
    if dup is not None:
        raise RuntimeError(f"enterprise draw {dup[0]} has a voided and a superseding formation; "
                           "the old unique constraint cannot hold both (no data is deleted by a downgrade)")
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.drop_index('uq_assignment_effective_enterprise_draw', postgresql_where=sa.text('voided_at IS NULL'),
                            sqlite_where=sa.text('voided_at IS NULL'))
        batch_op.create_unique_constraint(batch_op.f('uq_assignment_enterprise_draw_id'), ['enterprise_draw_id'])
        batch_op.drop_column('superseded_by')
        batch_op.drop_column('supersedes')
        batch_op.drop_column('voided_draw_id')
        batch_op.drop_column('void_reason')
        batch_op.drop_column('voided_at')
