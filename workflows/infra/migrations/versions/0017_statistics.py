"""stat_case, stat_step, stat_refresh, stat_snapshot: the statistics read model (issue 14)

One narrow row per case (and per step) with the figures the statistics pages count, refreshed incrementally from
the cases and their audit events by the worker: a page then groups ~100,000 rows instead of reading 1.1 M events; the default view of each scope
(region, each 主管部门) is kept computed (stat_snapshot) so that it opens at once.

Revision ID: 0017_statistics
Revises: 0010_signing
"""
from alembic import op
import sqlalchemy as sa


revision = '0017_statistics'
down_revision = '0010_signing'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stat_case',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('event_seq', sa.Integer(), nullable=False),
    sa.Column('procedure', sa.String(length=64), nullable=False),
    sa.Column('unit_code', sa.String(length=32), nullable=False),
    sa.Column('dept_code', sa.String(length=32), nullable=True),
    sa.Column('category', sa.String(length=8), nullable=True),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('accepted_on', sa.Date(), nullable=True),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('accept_mode', sa.String(length=8), nullable=True),
    sa.Column('rongque', sa.String(length=8), nullable=True),
    sa.Column('cycle_wd', sa.Integer(), nullable=True),
    sa.Column('promised_on', sa.Date(), nullable=True),
    sa.Column('on_time', sa.Boolean(), nullable=True),
    sa.Column('filing_due_on', sa.Date(), nullable=True),
    sa.Column('filing_on_time', sa.Boolean(), nullable=True),
    sa.Column('objection', sa.Boolean(), nullable=False),
    sa.Column('quota_source', sa.String(length=16), nullable=True),
    sa.Column('stars', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('case_id')
    )
    op.create_index(op.f('ix_stat_case_dept_code'), 'stat_case', ['dept_code'], unique=False)
    op.create_index(op.f('ix_stat_case_received_on'), 'stat_case', ['received_on'], unique=False)
    op.create_index(op.f('ix_stat_case_unit_code'), 'stat_case', ['unit_code'], unique=False)
    op.create_table('stat_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('task_name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=True),
    sa.Column('procedure', sa.String(length=64), nullable=False),
    sa.Column('unit_code', sa.String(length=32), nullable=False),
    sa.Column('dept_code', sa.String(length=32), nullable=True),
    sa.Column('category', sa.String(length=8), nullable=True),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.Column('completed_on', sa.Date(), nullable=True),
    sa.Column('dwell_wd', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_stat_step_case_id'), 'stat_step', ['case_id'], unique=False)
    op.create_index(op.f('ix_stat_step_received_on'), 'stat_step', ['received_on'], unique=False)
    op.create_table('stat_refresh',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cases', sa.Integer(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_stat_refresh_at'), 'stat_refresh', ['at'], unique=False)
    op.create_table('stat_snapshot',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade() -> None:
    op.drop_table('stat_snapshot')
    op.drop_table('stat_refresh')
    op.drop_table('stat_step')
    op.drop_table('stat_case')
