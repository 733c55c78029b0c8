"""cases: room for HOT updates and a cheaper compressor for the instance state (PostgreSQL only)

Most steps rewrite only `state`, `version`, `event_seq` and `last_hash` of a case, none of them indexed. With the
default fillfactor 100 the pages are full, so every such UPDATE puts the new row version on another page and inserts
it into all twelve indexes of the table (two of them GIN). Leaving 20 % of each page free lets PostgreSQL keep the
new version on the same page without touching any index (a HOT update). The state (13 KB of JSON) is compressed on
every write: lz4 costs a fraction of the default pglz. Both settings apply to rows written from now on; an existing
database gets them for old rows at its next `VACUUM FULL cases` (optional). SQLite: nothing to do.

Revision ID: 0005_cases_storage
Revises: 0004_name_chars
"""
from alembic import op

revision = '0005_cases_storage'
down_revision = '0004_name_chars'
branch_labels = None
depends_on = None

FILLFACTOR = 80


def _lz4_available(bind) -> bool:
    return bool(bind.exec_driver_sql(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'").scalar())


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    op.execute(f'ALTER TABLE cases SET (fillfactor = {FILLFACTOR})')
    if _lz4_available(bind):
        op.execute('ALTER TABLE cases ALTER COLUMN state SET COMPRESSION lz4')


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    op.execute('ALTER TABLE cases RESET (fillfactor)')
    op.execute('ALTER TABLE cases ALTER COLUMN state SET COMPRESSION default')
