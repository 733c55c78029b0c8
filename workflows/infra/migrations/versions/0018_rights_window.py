"""rights window: complaint topics routed to offices (科研人员权益保障), and each complaint's private part

Revision ID: 0018_rights_window
Revises: 0017_statistics
"""
from alembic import op
import sqlalchemy as sa


revision = '0018_rights_window'
# the current head (the lead re-chains the helpers' migrations at merge)
down_revision = '0017_statistics'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rights_topic',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('office_code', sa.String(length=32), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['office_code'], ['unit.code']),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_table('complaint',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('topic_code', sa.String(length=32), nullable=False),
    sa.Column('anonymous', sa.Boolean(), nullable=False),
    sa.Column('contact', sa.String(length=100), nullable=False),
    sa.Column('complainant_unit_code', sa.String(length=32), nullable=True),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('case_id')
    )
    op.create_index('ix_complaint_topic_code', 'complaint', ['topic_code'])
    op.create_index('ix_complaint_filed_at', 'complaint', ['filed_at'])


def downgrade() -> None:
    op.drop_index('ix_complaint_filed_at', table_name='complaint')
    op.drop_index('ix_complaint_topic_code', table_name='complaint')
    op.drop_table('complaint')
    op.drop_table('rights_topic')
