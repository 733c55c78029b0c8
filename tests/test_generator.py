"""The scale generator (webapp.demo.generator, run by `flask generate`) on a small SQLite volume: the audit chains
verify, a generated case moves through the real services, due timers fire in the real sweep, and a second run needs
force."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from webapp.demo.generator import FORMS, generate, id_number
from workflows.domain.actors import Actor
from workflows.domain.models import Case, OpenTask, User
from workflows.infra.db import make_engine, make_session_factory
from workflows.services import cases as svc
from workflows.services import queries
from workflows.services.audit import verify_chain
from workflows.services.timers import fire_due_timers


def test_id_numbers_have_valid_check_digits():
    import random

    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    for n in (id_number(random.Random(i)) for i in range(50)):
        assert len(n) == 18 and n[:17].isdigit()
        assert "10X98765432"[sum(int(c) * w for c, w in zip(n[:17], weights)) % 11] == n[17]


def test_generate_small_volume(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/gen.sqlite3")
    counts = generate(engine, cases=300, units=20, seed=3, batch=100, log=lambda _m: None)
    assert counts["cases"] == 300 and counts["events"] > 2000
    factory = make_session_factory(engine)
    s = factory()
    assert s.scalar(select(func.count()).select_from(Case)) > 300  # + the template cases
    for c in s.scalars(select(Case).order_by(Case.id.desc()).limit(60)):
        assert verify_chain(s, c) == [], c.case_no
    # a generated 单位审核 step, completed by the unit's HR officer through the services
    t, c = s.execute(
        select(OpenTask, Case).join(Case).where(OpenTask.spec_name == "Task_unit_review", Case.id > 20).limit(1)
    ).one()
    u = s.scalar(select(User).where(User.role == "unit_hr", User.unit_code == c.unit_code))
    actor = Actor(u.username, u.role, u.unit_code, u.id, u.id_number)
    page, counts_ = queries.inbox(s, actor, "group")
    assert counts_["group"] >= 1
    no, task_id, seq = c.case_no, t.task_id, c.event_seq
    s.commit()
    moved = svc.complete_task(s, no, task_id, FORMS["Task_unit_review"], actor)
    assert moved.event_seq > seq and task_id not in {x.task_id for x in moved.open_tasks}
    assert verify_chain(s, moved) == []
    s.commit()
    # due timers fire in the real sweep
    assert fire_due_timers(factory, limit=5) >= 0
    assert s.scalar(select(func.count()).select_from(Case).where(Case.error.is_not(None))) == 0
    s.close()
    with pytest.raises(RuntimeError):
        generate(engine, cases=10, units=20, seed=3, log=lambda _m: None)
    engine.dispose()
