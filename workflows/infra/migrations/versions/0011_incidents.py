"""case_incident: a failed run of a case's instance (script, timer value, engine) with the element and the message

The case is marked `error` and the timer sweep passes it by; administrators see the incidents on /admin/incidents
and on the case page.

Revision ID: 0011_incidents
Revises: 0013_special_post_terms
"""
from alembic import op
import sqlalchemy as sa


revision = '0011_incidents'
down_revision = '0013_special_post_terms'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_incident',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('element_id', sa.String(length=255), nullable=True),
    sa.Column('element_name', sa.String(length=255), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('previous_status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_case_incident_case_id'), 'case_incident', ['case_id'], unique=False)
    op.create_index(op.f('ix_case_incident_resolved_at'), 'case_incident', ['resolved_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_case_incident_resolved_at'), table_name='case_incident')
    op.drop_index(op.f('ix_case_incident_case_id'), table_name='case_incident')
    op.drop_table('case_incident')
