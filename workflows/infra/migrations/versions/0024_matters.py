"""matters: procedures as data (事项配置), versioned draft → published

Revision ID: 0024_matters
Revises: 0018_rights_window
"""
from alembic import op
import sqlalchemy as sa


revision = '0024_matters'
# the current head (the lead re-chains the helpers' migrations at merge)
down_revision = '0021_incident_actions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('matter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('definition_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('published_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['definition_id'], ['process_definition.id']),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code', 'version')
    )
    op.create_index('ix_matter_code', 'matter', ['code'])


def downgrade() -> None:
    op.drop_index('ix_matter_code', table_name='matter')
    op.drop_table('matter')
