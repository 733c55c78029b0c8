"""special_post: the requested start and term beside the approved ones, the 核销 reason's code, the move to a
regular post after 核销 (R8, issue 12 item 2)

Revision ID: 0013_special_post_terms
Revises: 0012_provisional_dates
"""
from alembic import op
import sqlalchemy as sa


revision = '0013_special_post_terms'
down_revision = '0012_provisional_dates'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('special_post') as batch:
        batch.add_column(sa.Column('requested_term_months', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('requested_start_on', sa.Date(), nullable=True))
        batch.add_column(sa.Column('start_basis', sa.String(length=16), nullable=False, server_default='requested'))
        batch.add_column(sa.Column('writeoff_reason_code', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('regular_post_status', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('regular_post_on', sa.Date(), nullable=True))
        batch.add_column(sa.Column('regular_post_note', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('special_post') as batch:
        for name in ('regular_post_note', 'regular_post_on', 'regular_post_status', 'writeoff_reason_code',
                     'start_basis', 'requested_start_on', 'requested_term_months'):
            batch.drop_column(name)
