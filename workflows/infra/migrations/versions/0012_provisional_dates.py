"""cases.provisional_dates: how each date computed on a year whose holiday arrangement was not yet known was computed

At the year boundary intake never stops (DESIGN §3): a date in a year that neither chinese_calendar nor the holiday
table knows is computed on weekdays only and is provisional. The column keeps, per date, what it was computed from
(the start day, the number of working days or months), so that loading the official table recomputes it; NULL once
every date of the case is confirmed.

Revision ID: 0012_provisional_dates
Revises: 0008_auth_sessions
"""
from alembic import op
import sqlalchemy as sa


revision = '0012_provisional_dates'
down_revision = '0008_auth_sessions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('cases', sa.Column('provisional_dates', sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite drops a column in place (3.35+); a batch copy of `cases` would trip every foreign key to it
        op.execute('ALTER TABLE cases DROP COLUMN provisional_dates')
    else:
        op.drop_column('cases', 'provisional_dates')
