"""decision tables: DMN versions edited on their own (dmn-js), published into the processes that call them

Revision ID: 0023_decision_tables
Revises: 0018_rights_window
"""
from alembic import op
import sqlalchemy as sa


revision = '0023_decision_tables'
# the current head (the lead re-chains the helpers' migrations at merge)
down_revision = '0018_rights_window'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('decision_definition',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('decision_id', sa.String(length=64), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('xml', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('decision_id', 'version'),
    sa.UniqueConstraint('decision_id', 'sha256')
    )
    op.create_index('ix_decision_definition_decision_id', 'decision_definition', ['decision_id'])


def downgrade() -> None:
    op.drop_index('ix_decision_definition_decision_id', table_name='decision_definition')
    op.drop_table('decision_definition')
