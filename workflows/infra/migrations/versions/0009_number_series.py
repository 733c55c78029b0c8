"""number series per issuing office and kind group; office seals; unnumbered documents; re-issue categories;
the administrators' audit trail

* `document_counter` is keyed by (office, kind group, year). The office's one register of before becomes its
  `decision` series, which keeps the office's base 代字 (内人社字): the next decision continues that sequence, so no
  number is issued twice and none already issued changes.
* `document.kind_group` (existing rows: `decision`, the register they were numbered in); `doc_no`, `year`, `seq`
  nullable (the applicant's 承诺书 carries no office number); unique (office, group, year, seq) instead of
  (office, year, seq); `reissue_category` (what the public page shows instead of the officer's words).
* `doc_series` (the administrators' prefixes), `office_seal` (the seal image's sha256 in the upload store),
  `admin_event` (hash-chained trail of administrators' changes).

Revision ID: 0009_number_series
Revises: 0011_incidents
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_number_series'
down_revision = '0011_incidents'
branch_labels = None
depends_on = None

# SQLite's unique constraints of 0001 have no name: batch mode names them by this convention to drop them.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s_%(column_1_name)s_%(column_2_name)s"}


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table('doc_series',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('office_code', sa.String(length=32), nullable=False),
    sa.Column('kind_group', sa.String(length=24), nullable=False),
    sa.Column('prefix', sa.String(length=32), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('office_code', 'kind_group'),
    sa.UniqueConstraint('prefix')
    )
    op.create_table('office_seal',
    sa.Column('office_code', sa.String(length=32), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('uploaded_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('office_code')
    )
    op.create_table('admin_event',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('target', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_index(op.f('ix_admin_event_target'), 'admin_event', ['target'], unique=False)

    # the counters: the office's register becomes its decision series
    if postgres:
        op.add_column('document_counter', sa.Column('kind_group', sa.String(24), nullable=False,
                                                    server_default='decision'))
        op.drop_constraint('document_counter_pkey', 'document_counter', type_='primary')
        op.create_primary_key('document_counter_pkey', 'document_counter', ['office_code', 'kind_group', 'year'])
        op.alter_column('document_counter', 'kind_group', server_default=None)
    else:
        _rebuild_counter(['office_code', 'kind_group', 'year'], "office_code, 'decision', year, value")

    # the documents: their series, unnumbered papers, re-issue categories
    op.add_column('document', sa.Column('kind_group', sa.String(24), nullable=True))
    op.add_column('document', sa.Column('reissue_category', sa.String(24), nullable=True))
    op.execute("UPDATE document SET kind_group = 'decision'")
    op.execute("UPDATE document SET reissue_category = 'other' WHERE supersedes_id IS NOT NULL")
    if postgres:
        op.drop_constraint('document_office_code_year_seq_key', 'document', type_='unique')
        for col in ('doc_no', 'year', 'seq'):
            op.alter_column('document', col, nullable=True)
        op.create_unique_constraint('uq_document_series_seq', 'document', ['office_code', 'kind_group', 'year', 'seq'])
    else:
        with op.batch_alter_table('document', recreate='always', naming_convention=NAMING) as b:
            b.drop_constraint('uq_document_office_code_year_seq', type_='unique')
            for col in ('doc_no', 'year', 'seq'):
                b.alter_column(col, existing_type=sa.String(64) if col == 'doc_no' else sa.Integer(), nullable=True)
            b.create_unique_constraint('uq_document_series_seq', ['office_code', 'kind_group', 'year', 'seq'])


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    # unnumbered papers cannot go back into a schema that requires a number
    op.execute("DELETE FROM document WHERE doc_no IS NULL AND supersedes_id IS NULL "
               "AND id NOT IN (SELECT supersedes_id FROM document WHERE supersedes_id IS NOT NULL)")
    if postgres:
        op.drop_constraint('uq_document_series_seq', 'document', type_='unique')
        for col in ('doc_no', 'year', 'seq'):
            op.alter_column('document', col, nullable=False)
        op.drop_column('document', 'reissue_category')
        op.drop_column('document', 'kind_group')
        op.create_unique_constraint('document_office_code_year_seq_key', 'document', ['office_code', 'year', 'seq'])
        op.execute("DELETE FROM document_counter WHERE kind_group <> 'decision'")
        op.drop_constraint('document_counter_pkey', 'document_counter', type_='primary')
        op.drop_column('document_counter', 'kind_group')
        op.create_primary_key('document_counter_pkey', 'document_counter', ['office_code', 'year'])
    else:
        with op.batch_alter_table('document', recreate='always') as b:
            b.drop_constraint('uq_document_series_seq', type_='unique')
            for col in ('doc_no', 'year', 'seq'):
                b.alter_column(col, existing_type=sa.String(64) if col == 'doc_no' else sa.Integer(), nullable=False)
            b.drop_column('reissue_category')
            b.drop_column('kind_group')
            b.create_unique_constraint('uq_document_office_code_year_seq', ['office_code', 'year', 'seq'])
        op.execute("DELETE FROM document_counter WHERE kind_group <> 'decision'")
        _rebuild_counter(['office_code', 'year'], "office_code, year, value")
    op.drop_index(op.f('ix_admin_event_target'), table_name='admin_event')
    op.drop_table('admin_event')
    op.drop_table('office_seal')
    op.drop_table('doc_series')


def _rebuild_counter(key: list[str], select: str) -> None:
    """SQLite cannot change a primary key in place: a new table, the rows copied, the old one dropped."""
    cols = [sa.Column('office_code', sa.String(length=32), nullable=False)]
    if 'kind_group' in key:
        cols.append(sa.Column('kind_group', sa.String(length=24), nullable=False))
    cols += [sa.Column('year', sa.Integer(), nullable=False), sa.Column('value', sa.Integer(), nullable=False)]
    op.create_table('document_counter_new', *cols, sa.PrimaryKeyConstraint(*key))
    names = ", ".join(c.name for c in cols)
    op.execute(f"INSERT INTO document_counter_new ({names}) SELECT {select} FROM document_counter")
    op.drop_table('document_counter')
    op.rename_table('document_counter_new', 'document_counter')
