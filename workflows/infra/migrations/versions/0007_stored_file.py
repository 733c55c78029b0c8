"""stored_file: uploaded files in the database, so that every web host reads them (UPLOAD_STORE=database)

Several gunicorn hosts behind a balancer share the database but not a disk. A file is stored once per sha256 of its
content; files already under UPLOAD_DIR stay there and are still read from it (workflows/infra/blobs.py).

Revision ID: 0007_stored_file
Revises: 0006_password_change
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_stored_file'
down_revision = '0006_password_change'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stored_file',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256')
    )


def downgrade() -> None:
    op.drop_table('stored_file')
