"""office documents and the quarterly report's claim; the statistics' monthly pre-aggregates (issue 14 items 3, 4)

* `document.case_id` nullable: an office document about no one case (the 科技厅's 季度调度通报) is numbered, rendered,
  signed, archived and verified like a case's, so it stays in the one `document` table (one render queue, one verify
  lookup, one immutability rule) rather than a copy of it; readers of a case's documents filter by case anyway.
* `periodic_report`: one row per office report and period (dispatch_report:2026Q3), the claim that makes the worker
  issue it once across several workers, then the document it issued.
* `stat_month`, `stat_month_cycle`, `stat_month_step`: the read model summed per month × procedure × unit/主管部门 ×
  category, built here from `stat_case`/`stat_step` as they stand; the services keep them in step from then on.
* `stat_step` indexed by unit and 主管部门 (a unit's view read every step of the region).
* `stat_open`: the open steps per procedure × 主管部门 × category × step, counted by the worker with the snapshots.

Revision ID: 0020_quarterly_reports
Revises: 0018_rights_window
"""
from alembic import op
import sqlalchemy as sa


revision = '0020_quarterly_reports'
# the current head (the lead re-chains the helpers' migrations at merge)
down_revision = '0019_registers_posts'
branch_labels = None
depends_on = None

COMPLAINTS = "('rights_complaint')"
# name -> condition on stat_case (NULL: every row)
COUNTS = {
    'received': None,
    'accepted': "accepted_on IS NOT NULL",
    'completed': "status = 'completed'",
    'refused': "status IN ('not_accepted', 'refused')",
    'terminated': "status = 'terminated'",
    'withdrawn': "status = 'withdrawn'",
    'instant': "accept_mode = 'instant'",
    'rongque': "accept_mode = 'rongque'",
    'kept': "rongque = 'kept'",
    'lapsed': "rongque = 'lapsed'",
    'pending': "rongque = 'pending'",
    'promised_n': "on_time IS NOT NULL",
    'promised_ok': "on_time",
    'filing_n': "filing_on_time IS NOT NULL",
    'filing_ok': "filing_on_time",
    'objections': "objection",
    'objections_ended': "objection AND status IN ('not_accepted', 'refused', 'terminated')",
    'q_own': "quota_source = 'own'",
    'q_pool': "quota_source = 'pool'",
    'q_none': "quota_source = 'none'",
    **{f'stars_{i}': f"stars = {i}" for i in range(1, 6)},
}


def _cell(table: str, *extra: sa.Column) -> None:
    op.create_table(table,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('procedure', sa.String(length=64), nullable=False),
    sa.Column('owner', sa.String(length=32), nullable=False),
    sa.Column('category', sa.String(length=8), nullable=True),
    *extra,
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(f'ix_{table}_month', table, ['month'], unique=False)


def upgrade() -> None:
    with op.batch_alter_table('document') as batch:
        batch.alter_column('case_id', existing_type=sa.Integer(), nullable=True)
    op.create_table('periodic_report',
    sa.Column('key', sa.String(length=48), nullable=False),
    sa.Column('kind', sa.String(length=48), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('quarter', sa.Integer(), nullable=False),
    sa.Column('office_code', sa.String(length=32), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['document.id']),
    sa.PrimaryKeyConstraint('key'),
    sa.UniqueConstraint('document_id')
    )
    _cell('stat_month',
          sa.Column('unit_code', sa.String(length=32), nullable=False),
          sa.Column('dept_code', sa.String(length=32), nullable=True),
          *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS))
    _cell('stat_month_cycle', sa.Column('cycle_wd', sa.Integer(), nullable=False),
          sa.Column('n', sa.Integer(), nullable=False))
    _cell('stat_month_step', sa.Column('task_name', sa.String(length=200), nullable=False),
          sa.Column('role', sa.String(length=16), nullable=True), sa.Column('dwell_wd', sa.Integer(), nullable=False),
          sa.Column('n', sa.Integer(), nullable=False))
    op.create_index('ix_stat_step_unit_code', 'stat_step', ['unit_code'], unique=False)
    op.create_index('ix_stat_step_dept_code', 'stat_step', ['dept_code'], unique=False)
    # filled by the worker's next round (with the snapshots); until then the pages count the open steps live
    op.create_table('stat_open',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('procedure', sa.String(length=64), nullable=False),
    sa.Column('owner', sa.String(length=32), nullable=False),
    sa.Column('category', sa.String(length=8), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('n_open', sa.Integer(), nullable=False),
    sa.Column('n_overdue', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    counts = ", ".join("COUNT(*)" if c is None else f"SUM(CASE WHEN {c} THEN 1 ELSE 0 END)" for c in COUNTS.values())
    op.execute(
        f"INSERT INTO stat_month (month, procedure, owner, category, unit_code, dept_code, {', '.join(COUNTS)}) "
        f"SELECT month, procedure, COALESCE(dept_code, unit_code), category, unit_code, dept_code, {counts} "
        f"FROM stat_case WHERE procedure NOT IN {COMPLAINTS} GROUP BY month, procedure, unit_code, dept_code, category"
    )
    op.execute(
        "INSERT INTO stat_month_cycle (month, procedure, owner, category, cycle_wd, n) "
        "SELECT month, procedure, COALESCE(dept_code, unit_code), category, cycle_wd, COUNT(*) FROM stat_case "
        f"WHERE procedure NOT IN {COMPLAINTS} AND status = 'completed' AND cycle_wd IS NOT NULL "
        "GROUP BY month, procedure, COALESCE(dept_code, unit_code), category, cycle_wd"
    )
    op.execute(
        "INSERT INTO stat_month_step (month, procedure, owner, category, task_name, role, dwell_wd, n) "
        "SELECT c.month, s.procedure, COALESCE(s.dept_code, s.unit_code), s.category, s.task_name, s.role, "
        "s.dwell_wd, COUNT(*) FROM stat_step s JOIN stat_case c ON c.case_id = s.case_id "
        f"WHERE s.procedure NOT IN {COMPLAINTS} "
        "GROUP BY c.month, s.procedure, COALESCE(s.dept_code, s.unit_code), s.category, s.task_name, s.role, s.dwell_wd"
    )


def downgrade() -> None:
    op.drop_index('ix_stat_step_dept_code', table_name='stat_step')
    op.drop_index('ix_stat_step_unit_code', table_name='stat_step')
    op.drop_table('stat_open')
    op.execute("DELETE FROM stat_snapshot WHERE key = 'open_tasks'")
    for table in ('stat_month_step', 'stat_month_cycle', 'stat_month'):
        op.drop_index(f'ix_{table}_month', table_name=table)
        op.drop_table(table)
    op.drop_table('periodic_report')
    # office documents have no case to go back to
    op.execute("DELETE FROM document WHERE case_id IS NULL")
    with op.batch_alter_table('document') as batch:
        batch.alter_column('case_id', existing_type=sa.Integer(), nullable=False)
