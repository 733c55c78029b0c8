"""Incident repair and release notes: how an incident was resolved (retry, skip, cancel, superseded) and why; each
publication of a process version with its note

Revision ID: 0021_incident_actions
Revises: 0018_rights_window
"""
from alembic import op
import sqlalchemy as sa


revision = '0021_incident_actions'
down_revision = '0023_decision_tables'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case_incident') as batch:
        batch.add_column(sa.Column('resolution', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('resolution_reason', sa.Text(), nullable=True))
    with op.batch_alter_table('process_definition') as batch:
        batch.add_column(sa.Column('release_notes', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('process_definition') as batch:
        batch.drop_column('release_notes')
    with op.batch_alter_table('case_incident') as batch:
        batch.drop_column('resolution_reason')
        batch.drop_column('resolution')
