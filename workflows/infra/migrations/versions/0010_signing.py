"""signing: offices' signing certificates (keys encrypted) and the render queue's backoff on documents

Issued PDFs are signed (PAdES B-B) with the issuing office's certificate; the private key is stored encrypted under
SIGNING_KEY_PASSPHRASE (never stored). Rendering and signing moved to the worker: a failed render waits until
`render_next_at` before its next attempt.

Revision ID: 0010_signing
Revises: 0009_number_series
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_signing'
down_revision = '0009_number_series'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('signing_certificate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('office_code', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('issuer', sa.String(length=500), nullable=False),
    sa.Column('serial', sa.String(length=80), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('not_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cert_der', sa.LargeBinary(), nullable=False),
    sa.Column('chain_der', sa.JSON(), nullable=False),
    sa.Column('key_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retired_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('fingerprint')
    )
    op.create_index('ix_signing_certificate_office_code', 'signing_certificate', ['office_code'], unique=False)
    op.create_index('uq_signing_certificate_active', 'signing_certificate', ['office_code'], unique=True,
                    sqlite_where=sa.text('active'), postgresql_where=sa.text('active'))
    with op.batch_alter_table('document') as batch:
        batch.add_column(sa.Column('render_next_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('signer_fingerprint', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('document') as batch:
        batch.drop_column('signer_fingerprint')
        batch.drop_column('render_next_at')
    op.drop_index('uq_signing_certificate_active', table_name='signing_certificate')
    op.drop_index('ix_signing_certificate_office_code', table_name='signing_certificate')
    op.drop_table('signing_certificate')
