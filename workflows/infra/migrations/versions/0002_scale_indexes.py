"""indexes for 100k cases: inbox desks, "mine", a unit's cases, name search (pg_trgm on PostgreSQL)

Revision ID: 0002_scale_indexes
Revises: 0001_initial
"""
from alembic import op

revision = '0002_scale_indexes'
down_revision = '0001_initial'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('open_task', schema=None) as batch_op:
        batch_op.create_index('ix_open_task_desk', ['role', 'scope_unit_code', 'due_on', 'id'], unique=False)
        batch_op.create_index('ix_open_task_role_due', ['role', 'due_on', 'id'], unique=False)
        batch_op.create_index('ix_open_task_assignee', ['assignee_id'], unique=False)
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_unit_id', ['unit_code', 'id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        # LIKE '%name%' can use a trigram GIN index (names of 3+ characters; shorter ones scan)
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.create_index('ix_cases_applicant_name_trgm', 'cases', ['applicant_name'], unique=False,
                        postgresql_using='gin', postgresql_ops={'applicant_name': 'gin_trgm_ops'})
    else:
        with op.batch_alter_table('cases', schema=None) as batch_op:
            batch_op.create_index('ix_cases_applicant_name_trgm', ['applicant_name'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_applicant_name_trgm')
        batch_op.drop_index('ix_cases_unit_id')
    with op.batch_alter_table('open_task', schema=None) as batch_op:
        batch_op.drop_index('ix_open_task_assignee')
        batch_op.drop_index('ix_open_task_role_due')
        batch_op.drop_index('ix_open_task_desk')
