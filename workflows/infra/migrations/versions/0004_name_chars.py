"""name search by 1 or 2 characters: GIN over the characters of the name (PostgreSQL only)

The trigram index of 0002 cannot serve LIKE '%王%' or '%张伟%' (a term under 3 characters has no trigram), so those
searches read every case. `string_to_array(applicant_name, NULL) @> ARRAY['张', '伟']` (the name has these
characters; a built-in, immutable function: NULL as the delimiter splits into characters) can use this index; for 2
characters the LIKE stays as the check (workflows.services.queries.name_condition). SQLite: nothing to do.

Revision ID: 0004_name_chars
Revises: 0003_user_email
"""
from alembic import op
import sqlalchemy as sa

revision = '0004_name_chars'
down_revision = '0003_user_email'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.create_index('ix_cases_applicant_name_chars', 'cases', [sa.text('string_to_array(applicant_name, NULL)')],
                        unique=False, postgresql_using='gin')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_cases_applicant_name_chars', table_name='cases')
