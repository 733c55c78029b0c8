"""cases.matter_version: the version of its matter (事项配置) a case started on, so a running case of a declared
procedure keeps the form, 承诺时限 and texts it started with

Revision ID: 0025_case_matter_version
Revises: 0024_matters
"""
from alembic import op
import sqlalchemy as sa


revision = '0025_case_matter_version'
down_revision = '0020_quarterly_reports'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('cases', sa.Column('matter_version', sa.Integer(), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite drops a column in place (3.35+); a batch copy of `cases` would trip every foreign key to it
        op.execute('ALTER TABLE cases DROP COLUMN matter_version')
    else:
        op.drop_column('cases', 'matter_version')
