"""registers: the 失信 list's source document, 违诺 records' 信用修复 (expiry, lifting), and their trail

Revision ID: 0016_registers
Revises: 0007_stored_file
"""
from alembic import op
import sqlalchemy as sa


revision = '0016_registers'
down_revision = '0007_stored_file'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('credit_record') as b:
        b.add_column(sa.Column('source_document', sa.String(length=200), nullable=True))
        b.add_column(sa.Column('created_by', sa.String(length=64), nullable=True))
        b.add_column(sa.Column('created_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('breach_record') as b:
        b.add_column(sa.Column('expires_on', sa.Date(), nullable=True))
        b.add_column(sa.Column('lifted_on', sa.Date(), nullable=True))
        b.add_column(sa.Column('lifted_by', sa.String(length=64), nullable=True))
        b.add_column(sa.Column('lift_reason', sa.String(length=200), nullable=True))
    op.create_table('register_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('register', sa.String(length=16), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('by', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_register_event_register', 'register_event', ['register'])
    op.create_index('ix_register_event_record_id', 'register_event', ['record_id'])


def downgrade() -> None:
    op.drop_index('ix_register_event_record_id', table_name='register_event')
    op.drop_index('ix_register_event_register', table_name='register_event')
    op.drop_table('register_event')
    with op.batch_alter_table('breach_record') as b:
        for c in ('lift_reason', 'lifted_by', 'lifted_on', 'expires_on'):
            b.drop_column(c)
    with op.batch_alter_table('credit_record') as b:
        for c in ('created_at', 'created_by', 'source_document'):
            b.drop_column(c)
