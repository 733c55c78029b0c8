"""app_user.must_change_password: an account whose password someone else chose must change it at first use

Existing accounts get false (their people keep signing in as before).

Revision ID: 0006_password_change
Revises: 0005_cases_storage
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_password_change'
down_revision = '0005_cases_storage'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')
