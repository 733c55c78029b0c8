"""Officer workspace through the Flask test client on the demo database (tests/web/conftest.py).

Demo cases used here (all dated 2026-03-02):
  L…001 张伟 U0101 registration, 容缺, waiting for 主管部门审核 (dept_kjt); earlier step 单位审核
  L…002 刘娜 U0201 registration, waiting for 主管部门审核 (dept_jyt)
  L…003 王磊 U0101 registration, completed (own 编制 reserved and consumed)
  L…007 周敏 U0102 registration, waiting for 编办 (人才专项编制)
  T…001 陈晨 U0101 special post, waiting for 人社核准; T…002 杨帆 special post registered
  Z…001 张伟 U0101 senior title, waiting for 用人单位审核 (hr_nky)
"""

from __future__ import annotations

import json
import re
from datetime import date
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from tests.helpers import start_as
from tests.web.conftest import login, make_web_app, signed_in
from webapp import schema_forms
from webapp.demo.accounts import actor_for
from workflows.domain.models import Case, CaseEvent, OpenTask, User

L1, L2, L3, L7 = "150000L260302000001", "150000L260302000002", "150000L260302000003", "150000L260302000007"
T1, T2 = "150000T260302000001", "150000T260302000002"
Z1 = "150000Z260302000001"
E1 = "150000E260302000001"  # 张伟's 二级岗位破格 application, at the unit


# ------------------------------------------------------------------------------------------------ helpers
def task_of(db, case_no: str, spec: str) -> OpenTask | None:
    db.expire_all()
    t = db.scalar(select(OpenTask).join(Case).where(Case.case_no == case_no, OpenTask.spec_name == spec))
    db.commit()
    return t


def case_row(db, case_no: str) -> Case:
    db.expire_all()
    c = db.scalar(select(Case).where(Case.case_no == case_no))
    c.materials, c.open_tasks  # noqa: B018  (load them before the session commits)
    db.commit()
    return c


def user_id(db, username: str) -> int:
    uid = db.scalar(select(User.id).where(User.username == username))
    db.commit()
    return uid


def add_colleague(db, username: str, role: str, unit: str) -> None:
    pw = db.scalar(select(User.password_hash).where(User.username == "hr_nky"))
    db.add(User(username=username, display_name=f"{username}（同事）", role=role, unit_code=unit, password_hash=pw))
    db.commit()


def text(r) -> str:
    return r.get_data(as_text=True)


def flashes(html: str) -> list[str]:
    return [re.sub(r"\s+", " ", m).strip() for m in re.findall(r'<div class="flash[^"]*"[^>]*>(.*?)</div>', html, re.S)]


def rows(html: str) -> list[str]:
    """Case numbers of the inbox rows, in order."""
    return re.findall(r'<tr data-case="([0-9A-Z]+)"', html)


def row_html(html: str, case_no: str) -> str:
    m = re.search(rf'<tr data-case="{case_no}".*?</tr>', html, re.S)
    assert m, f"{case_no} not listed"
    return m.group(0)


def counts(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-count="(\w+)">（(\d+)）', html)}


def diagram_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="diagram-data">(.*?)</script>', html, re.S)
    assert m, "diagram data block missing"
    return json.loads(m.group(1))


def task_url(case_no: str, task: OpenTask, action: str = "") -> str:
    return f"/officer/cases/{case_no}/tasks/{task.task_id}" + (f"/{action}" if action else "")


# ------------------------------------------------------------------------------------------------ inbox
def test_inbox_tabs_and_counts_per_role(web_app, db):
    expected_group = {
        "hr_nky": db.scalar(
            select(func.count())
            .select_from(OpenTask)
            .where(OpenTask.role == "unit_hr", OpenTask.scope_unit_code == "U0101")
        ),
        "dept_kjt": db.scalar(
            select(func.count()).select_from(OpenTask).where(OpenTask.role == "dept", OpenTask.scope_unit_code == "D01")
        ),
        "bianban": db.scalar(select(func.count()).select_from(OpenTask).where(OpenTask.role == "bianban")),
        "hr_kjxx": db.scalar(
            select(func.count())
            .select_from(OpenTask)
            .where(OpenTask.role == "unit_hr", OpenTask.scope_unit_code == "U0102")
        ),
    }
    all_open = db.scalar(select(func.count()).select_from(OpenTask))
    in_u0101 = db.scalar(select(func.count()).select_from(OpenTask).join(Case).where(Case.unit_code == "U0101"))
    db.commit()
    assert expected_group["hr_nky"] >= 1 and expected_group["dept_kjt"] >= 1 and expected_group["bianban"] >= 1

    for who, group in expected_group.items():
        html = text(signed_in(web_app, who).get("/officer/"))
        c = counts(html)
        assert c["group"] == group, who
        assert c["mine"] == 0 and c["overdue"] == 0, who
        assert len(rows(html)) == group, who
    bb = signed_in(web_app, "bianban")
    assert counts(text(bb.get("/officer/?tab=all")))["all"] == all_open  # region-wide office sees every case
    hr = signed_in(web_app, "hr_nky")
    html = text(hr.get("/officer/?tab=all"))
    assert counts(html)["all"] == in_u0101 and set(rows(html)) >= {L1, T1, Z1}
    assert L7 not in rows(html) and L2 not in rows(html)  # other units' cases stay out
    # its own desk gets claim and 办理; another desk's step is listed read-only ("查看")
    assert ">办理</a>" in row_html(html, Z1) and ">认领</button>" in row_html(html, Z1)
    assert ">查看</a>" in row_html(html, L1) and ">认领</button>" not in row_html(html, L1)

    html = text(signed_in(web_app, "hr_kjxx").get("/officer/?tab=group"))
    assert "暂无待办" in html and rows(html) == []
    assert "您还没有认领的待办" in text(hr.get("/officer/?tab=mine"))


def test_inbox_search_by_name_id_case_no_and_unit(web_app):
    bb = signed_in(web_app, "bianban")
    assert rows(text(bb.get("/officer/?tab=all&q=周敏"))) == [L7]
    assert rows(text(bb.get("/officer/?tab=all&q=150104198805052345"))) == [L2]  # ID number
    assert rows(text(bb.get(f"/officer/?tab=all&q={T1}"))) == [T1]  # 办件编号
    assert rows(text(bb.get("/officer/?tab=all&q=科技信息研究所"))) == [L7]  # unit name
    html = text(bb.get("/officer/?tab=all&q=不存在的人"))
    assert rows(html) == [] and "没有符合条件的待办" in html
    # the search is kept in the tab links and the form
    html = text(bb.get("/officer/?tab=all&q=张伟"))
    assert set(rows(html)) == {L1, Z1, E1}
    assert 'value="张伟"' in html and f"tab=mine&amp;q={quote('张伟')}" in html
    # scope still applies to a search: a unit officer cannot find another unit's case
    assert rows(text(signed_in(web_app, "hr_kjxx").get("/officer/?tab=all&q=张伟"))) == []


def test_inbox_filters_by_procedure_and_status(web_app, db):
    bb = signed_in(web_app, "bianban")
    assert rows(text(bb.get("/officer/?tab=all&procedure=special_post"))) == [T1]
    assert set(rows(text(bb.get("/officer/?tab=all&procedure=senior_title_direct")))) == {Z1}
    assert (
        len(rows(text(bb.get("/officer/?tab=all&status=running")))) == counts(text(bb.get("/officer/?tab=all")))["all"]
    )
    html = text(bb.get("/officer/?tab=all&status=returned"))
    assert rows(html) == [] and "没有符合条件的待办" in html
    assert 'value="special_post" selected' in text(bb.get("/officer/?tab=all&procedure=special_post"))
    # unknown values are ignored rather than failing
    assert bb.get("/officer/?tab=nonsense&procedure=x&status=y&page=abc").status_code == 200


def test_inbox_pagination(web_app, db):
    hr = actor_for(db, "hr_nky")
    db.commit()
    for i in range(22):
        start_as(
            db,
            "green_channel_registration",
            {
                "applicant_name": f"测试{i:02d}",
                "id_number": f"1501021990010{i:05d}",
                "unit_code": "U0101",
                "talent_category": 3,
                "introduction_mode": "rigid",
                "outside_establishment": False,
                "materials": [
                    "id_card",
                    "talent_recognition",
                    "employment_contract",
                    "assessment_material",
                    "degree_certificate",
                    "health_check",
                    "no_crime_record",
                    "resume",
                ],
            },
            hr,
        )
    group = db.scalar(
        select(func.count())
        .select_from(OpenTask)
        .where(OpenTask.role == "unit_hr", OpenTask.scope_unit_code == "U0101")
    )
    db.commit()
    assert group >= 23
    c = signed_in(web_app, "hr_nky")
    page1 = text(c.get("/officer/?tab=group"))
    assert len(rows(page1)) == 20 and counts(page1)["group"] == group
    assert 'aria-current="page" class="current">1<' in page1
    assert re.search(r'href="/officer/\?(tab=group&amp;page=2|page=2&amp;tab=group)"', page1)
    page2 = text(c.get("/officer/?tab=group&page=2"))
    assert len(rows(page2)) == group - 20
    assert not set(rows(page1)) & set(rows(page2))
    assert 'rel="prev"' in page2 and "下一页" not in page2
    # filters survive paging
    filtered = text(c.get("/officer/?tab=group&q=测试&page=2"))
    assert len(rows(filtered)) == 2 and "q=%E6%B5%8B%E8%AF%95" in filtered


def test_due_date_colouring_and_overdue_tab(web_app, db):
    # Monday 2026-03-02: 2026-02-27 is past, 2026-03-04 is 2 working days away, 2026-03-20 is far
    dues = {
        L1: ("Task_dept_review", date(2026, 2, 27)),
        Z1: ("Task_unit_review", date(2026, 3, 4)),
        T1: ("Task_hrss_approval", date(2026, 3, 20)),
    }
    for case_no, (spec, due) in dues.items():
        db.scalar(select(OpenTask).join(Case).where(Case.case_no == case_no, OpenTask.spec_name == spec)).due_on = due
    db.commit()
    html = text(signed_in(web_app, "bianban").get("/officer/?tab=all"))
    assert re.search(rf'data-case="{L1}"[^>]*class="due-row-overdue"', html)
    assert re.search(rf'data-case="{Z1}"[^>]*class="due-row-soon"', html)
    assert re.search(rf'data-case="{T1}"[^>]*class="due-row-ok"', html)
    assert 'data-due="overdue"' in html and "2026年2月27日（已逾期）" in html and "即将到期" in html
    assert rows(html)[0] == L1  # earliest due first
    dept = signed_in(web_app, "dept_kjt")
    html = text(dept.get("/officer/?tab=overdue"))
    assert counts(html)["overdue"] == 1 and rows(html) == [L1]
    # the diagram marks the overdue step
    states = diagram_data(text(dept.get(f"/officer/cases/{L1}")))["states"]
    assert states["Task_dept_review"] == "overdue"


# ------------------------------------------------------------------------------------------------ claim / release
def test_claim_and_release(web_app, db):
    add_colleague(db, "hr_nky2", "unit_hr", "U0101")
    t = task_of(db, Z1, "Task_unit_review")
    hr = signed_in(web_app, "hr_nky")
    r = hr.post(task_url(Z1, t, "claim"), data={"next": "/officer/?tab=group"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/officer/?tab=group")
    assert task_of(db, Z1, "Task_unit_review").assignee_id == user_id(db, "hr_nky")
    html = text(hr.get("/officer/?tab=mine"))
    assert any(f"已认领「{t.title}」" in f for f in flashes(html))
    assert counts(html)["mine"] == 1 and rows(html) == [Z1]
    assert "释放" in html

    # a colleague cannot take it, sees who holds it and cannot submit
    other = signed_in(web_app, "hr_nky2")
    r = other.post(task_url(Z1, t, "claim"), follow_redirects=True)
    assert "该环节已被他人认领" in "".join(flashes(text(r)))
    page = text(other.get(task_url(Z1, t)))
    assert "只有认领人可以提交" in page and re.search(r'<button type="submit" class="primary"[^>]*disabled', page)
    r = other.post(task_url(Z1, t, "complete"), data={"unit_decision": "approve"}, follow_redirects=True)
    assert "该环节已由他人认领" in text(r) and task_of(db, Z1, "Task_unit_review") is not None
    r = other.post(task_url(Z1, t, "claim"), data={"release": "1"}, follow_redirects=True)
    assert task_of(db, Z1, "Task_unit_review").assignee_id == user_id(db, "hr_nky")

    r = hr.post(task_url(Z1, t, "claim"), data={"release": "1"}, follow_redirects=True)
    assert r.status_code == 200 and any("已释放" in f for f in flashes(text(r)))
    assert task_of(db, Z1, "Task_unit_review").assignee_id is None
    assert counts(text(hr.get("/officer/")))["mine"] == 0
    actions = [e.action for e in db.scalars(select(CaseEvent).join(Case).where(Case.case_no == Z1))]
    db.commit()
    assert "claimed" in actions and "released" in actions


# ------------------------------------------------------------------------------------------------ the task form
def test_task_form_is_rendered_from_the_schema(web_app, db):
    t = task_of(db, L1, "Task_dept_review")
    html = text(signed_in(web_app, "dept_kjt").get(task_url(L1, t)))
    assert "主管部门审核意见" in html and "主管部门意见说明" in html
    assert re.search(r'<input type="radio" name="dept_decision" value="approve"[^>]*required[^>]*> 同意', html)
    assert re.search(r'<input type="radio" name="dept_decision" value="refuse"', html)
    assert re.search(r'<textarea id="f-dept_opinion" name="dept_opinion"[^>]*maxlength="500"', html)
    assert 'data-required-when-field="dept_decision" data-required-when-value="refuse"' in html
    assert re.search(r'<input type="hidden" name="version" value="\d+">', html)
    assert 'name="csrf_token"' in html
    assert "/static/js/officer_form.js" in html and "<script>" not in html  # no inline scripts (CSP)
    # the return form offers the applicant and the earlier step; materials can be picked
    assert (
        'value="applicant"' in html
        and 'value="Task_unit_review"' in html
        and 'name="items" value="health_check"' in html
    )


def test_complete_a_task_through_the_form_moves_the_case(web_app, db):
    t = task_of(db, L2, "Task_dept_review")
    version = case_row(db, L2).version
    dept = signed_in(web_app, "dept_jyt")
    r = dept.post(
        task_url(L2, t, "complete"),
        data={"dept_decision": "approve", "dept_opinion": "同意列编", "version": str(version)},
    )
    # issue #10: on to the desk's next task, or back to the inbox when there is none (dept_jyt has no other)
    assert r.status_code == 303 and r.headers["Location"].endswith("/officer/")
    assert task_of(db, L2, "Task_dept_review") is None
    nxt = [t.spec_name for t in case_row(db, L2).open_tasks]
    assert nxt, "the case should have moved to a next step"
    page = text(dept.get(f"/officer/cases/{L2}"))
    assert any("已提交「主管部门审核」的办理结果" in f for f in flashes(page))
    assert "同意列编" in page  # the opinion in the timeline
    states = diagram_data(page)["states"]
    assert states["Task_dept_review"] == "done" and all(states.get(n) == "active" for n in nxt)
    # the next desk sees it in its inbox
    if "Task_filing" in nxt:
        assert L2 in rows(text(signed_in(web_app, "renshe").get("/officer/")))


def test_bad_data_gets_field_errors_and_changes_nothing(web_app, db):
    t = task_of(db, L2, "Task_dept_review")
    before = case_row(db, L2)
    events_before = db.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == before.id))
    db.commit()
    dept = signed_in(web_app, "dept_jyt")
    r = dept.post(task_url(L2, t, "complete"), data={"dept_decision": "maybe", "dept_opinion": "x" * 501})
    assert r.status_code == 422
    html = text(r)
    assert re.search(r'data-error-for="dept_decision">[^<]*取值不在允许范围内', html)
    assert re.search(r'data-error-for="dept_opinion">[^<]*内容过长', html)
    assert "x" * 501 in html  # the entered text is kept
    assert 'aria-invalid="true"' in html and "表单填写有误" in html
    # nothing submitted at all: the decision is required
    r = dept.post(task_url(L2, t, "complete"), data={})
    assert r.status_code == 422 and re.search(r'data-error-for="dept_decision">[^<]*必填', text(r))
    after = case_row(db, L2)
    assert after.version == before.version and task_of(db, L2, "Task_dept_review") is not None
    assert db.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == after.id)) == events_before
    db.commit()


def test_stale_version_is_refused_with_a_message(web_app, db):
    t = task_of(db, L2, "Task_dept_review")
    r = signed_in(web_app, "dept_jyt").post(
        task_url(L2, t, "complete"), data={"dept_decision": "approve", "version": "1"}, follow_redirects=True
    )
    assert "办件已被他人更新" in text(r) and task_of(db, L2, "Task_dept_review") is not None


def test_refuse_requires_a_reason(web_app, db):
    t = task_of(db, L2, "Task_dept_review")
    dept = signed_in(web_app, "dept_jyt")
    r = dept.post(task_url(L2, t, "complete"), data={"dept_decision": "refuse", "dept_opinion": "   "})
    assert r.status_code == 422
    assert re.search(r'data-error-for="dept_opinion">', text(r))
    assert re.search(r'value="refuse" checked', text(r))  # the choice is kept
    assert task_of(db, L2, "Task_dept_review") is not None and case_row(db, L2).status == "running"
    r = dept.post(task_url(L2, t, "complete"), data={"dept_decision": "refuse", "dept_opinion": "不符合引进条件"})
    assert r.status_code == 303
    c = case_row(db, L2)
    assert c.status == "refused" and not c.open_tasks
    page = text(dept.get(f"/officer/cases/{L2}"))
    assert "不符合引进条件" in page and "当前没有待办环节" in page


# ------------------------------------------------------------------------------------------------ return / transfer / comment
def test_return_to_the_applicant(web_app, db):
    t = task_of(db, Z1, "Task_unit_review")
    hr = signed_in(web_app, "hr_nky")
    r = hr.post(task_url(Z1, t, "return"), data={"target": "applicant", "reason": "  "})
    assert r.status_code == 422 and re.search(r'data-error-for="reason">此项为必填项', text(r))
    assert case_row(db, Z1).status == "running"
    r = hr.post(
        task_url(Z1, t, "return"),
        data={"target": "applicant", "items": ["id_card"], "reason": "身份证复印件不清晰"},
        follow_redirects=True,
    )
    assert r.status_code == 200 and any("退回申请人补正" in f for f in flashes(text(r)))
    c = case_row(db, Z1)
    assert c.status == "returned"
    assert next(m for m in c.materials if m.code == "id_card").status == "missing"
    page = text(r)
    assert "退回补正" in page and "身份证复印件不清晰" in page and "退回至" in page
    # while it waits for the applicant the step cannot be completed
    r = hr.post(task_url(Z1, t, "complete"), data={"unit_decision": "approve"}, follow_redirects=True)
    assert "等待申请人重新提交" in text(r)


def test_return_to_an_earlier_step(web_app, db):
    t = task_of(db, L1, "Task_dept_review")
    dept = signed_in(web_app, "dept_kjt")
    r = dept.post(task_url(L1, t, "return"), data={"target": "Task_unit_review", "reason": "请单位补充考察意见"})
    assert r.status_code == 303
    assert task_of(db, L1, "Task_dept_review") is None
    again = task_of(db, L1, "Task_unit_review")
    assert again is not None and again.scope_unit_code == "U0101"
    assert L1 in rows(text(signed_in(web_app, "hr_nky").get("/officer/")))
    page = text(dept.get(f"/officer/cases/{L1}"))
    assert "请单位补充考察意见" in page
    # a step that was never done is refused with a message
    t2 = task_of(db, L2, "Task_dept_review")
    r = signed_in(web_app, "dept_jyt").post(
        task_url(L2, t2, "return"), data={"target": "Task_filing", "reason": "x"}, follow_redirects=True
    )
    assert "不能退回到该环节" in text(r) and task_of(db, L2, "Task_dept_review") is not None


def test_transfer_in_scope_and_refused_out_of_scope(web_app, db):
    add_colleague(db, "hr_nky2", "unit_hr", "U0101")
    t = task_of(db, Z1, "Task_unit_review")
    hr = signed_in(web_app, "hr_nky")
    page = text(hr.get(task_url(Z1, t)))
    assert 'value="hr_nky2"' in page and 'value="hr_kjxx"' not in page  # only colleagues of the desk are offered
    r = hr.post(task_url(Z1, t, "transfer"), data={"to": "hr_kjxx"}, follow_redirects=True)
    assert "接收人不在该环节的角色或单位范围内" in text(r)
    assert task_of(db, Z1, "Task_unit_review").assignee_id is None
    r = hr.post(task_url(Z1, t, "transfer"), data={"to": "nobody"}, follow_redirects=True)
    assert "接收人不存在" in text(r)
    r = hr.post(task_url(Z1, t, "transfer"), data={"to": "hr_nky2"}, follow_redirects=True)
    assert any(f"已将「{t.title}」转交给 hr_nky2（同事）" in f for f in flashes(text(r)))
    assert task_of(db, Z1, "Task_unit_review").assignee_id == user_id(db, "hr_nky2")
    html = text(signed_in(web_app, "hr_nky2").get("/officer/?tab=mine"))
    assert rows(html) == [Z1]
    assert "接收人" in text(hr.get(f"/officer/cases/{Z1}"))  # the transfer is in the timeline


def test_comment_shows_in_the_timeline(web_app, db):
    dept = signed_in(web_app, "dept_kjt")
    r = dept.post(f"/officer/cases/{L1}/comment", data={"text": "请注意容缺材料的补交期限"}, follow_redirects=True)
    assert r.status_code == 200 and "意见已记录" in text(r)
    html = text(r)
    assert re.search(r'data-action="comment".*?请注意容缺材料的补交期限', html, re.S)
    assert "赵敏（科技厅人事处）" in html  # who wrote it
    r = dept.post(f"/officer/cases/{L1}/comment", data={"text": " "}, follow_redirects=True)
    assert "意见内容不能为空" in text(r)


# ------------------------------------------------------------------------------------------------ case page
def test_case_page_shows_diagram_timeline_materials(web_app, db):
    html = text(signed_in(web_app, "dept_kjt").get(f"/officer/cases/{L1}"))
    data = diagram_data(html)
    assert "definitions" in data["xml"] and "Task_dept_review" in data["xml"]
    assert data["states"]["Task_dept_review"] == "active" and data["states"]["Task_unit_review"] == "done"
    assert "</script>" not in data["xml"]
    assert "/vendor/bpmn-js/dist/bpmn-navigated-viewer.production.min.js" in html
    assert "/vendor/bpmn-js/dist/assets/bpmn-js.css" in html and "/static/js/officer_diagram.js" in html
    assert "主管部门审核：当前" in html and "单位审核：已办" in html  # the text version of the diagram
    # timeline with opinions
    assert "办理记录" in html and "经单位党委会研究，同意" in html
    # materials checklist with the owed 容缺 items
    assert re.search(r'data-material="health_check">\s*<td>体检报告.*?容缺待补', html, re.S)
    assert re.search(r'data-material="id_card">.*?已收取', html, re.S)
    assert "2026年4月14日" in html  # 容缺补齐期限


def test_case_page_shows_the_ledger(web_app):
    c = signed_in(web_app, "bianban")
    html = text(c.get(f"/officer/cases/{L3}"))
    assert "编制与岗位台账" in html and "U0101 本单位编制" in html
    assert 'data-movement="reserve"' in html and 'data-movement="consume"' in html and "占用" in html
    html = text(c.get(f"/officer/cases/{L7}"))
    assert "自治区人才专项编制" in html and "预留" in html
    html = text(c.get(f"/officer/cases/{T2}"))
    assert 'data-testid="special-post"' in html and "稀土新材料首席科学家" in html and "杨帆" in html
    assert "60 个月" in html and "在岗" in html


def test_case_page_lists_documents_with_verify_links(web_app, db):
    try:
        from workflows.services.archive import Document
    except ImportError:
        pytest.skip("no document archive")
    doc = db.scalar(select(Document).join(Case).where(Case.case_no == L1))
    db.commit()
    html = text(signed_in(web_app, "dept_kjt").get(f"/officer/cases/{L1}"))
    if doc is None:
        assert "暂无文书" in html
    else:
        assert doc.doc_no in html and f'href="/verify/{doc.verify_code}"' in html


# ------------------------------------------------------------------------------------------------ scope
def test_other_units_get_404_and_other_desks_403(web_app, db):
    t = task_of(db, L1, "Task_dept_review")
    kjxx = signed_in(web_app, "hr_kjxx")  # U0102: L1 belongs to U0101
    assert kjxx.get(f"/officer/cases/{L1}").status_code == 404
    assert "办件不存在或您无权查看" in text(kjxx.get(f"/officer/cases/{L1}"))
    assert kjxx.get(task_url(L1, t)).status_code == 404
    for action, data in (
        ("claim", {}),
        ("complete", {"dept_decision": "approve"}),
        ("return", {"reason": "x"}),
        ("transfer", {"to": "hr_kjxx"}),
    ):
        assert kjxx.post(task_url(L1, t, action), data=data).status_code == 404, action
    assert kjxx.post(f"/officer/cases/{L1}/comment", data={"text": "越权"}).status_code == 404
    jyt = signed_in(web_app, "dept_jyt")  # another 主管部门
    assert jyt.get(f"/officer/cases/{L1}").status_code == 404
    assert jyt.post(task_url(L1, t, "complete"), data={"dept_decision": "approve"}).status_code == 404
    # in scope of the case but not of the desk: 403
    hr = signed_in(web_app, "hr_nky")
    assert hr.get(f"/officer/cases/{L1}").status_code == 200
    assert hr.get(task_url(L1, t)).status_code == 403
    for action, data in (
        ("claim", {}),
        ("complete", {"dept_decision": "approve"}),
        ("return", {"reason": "x"}),
        ("transfer", {"to": "hr_nky"}),
    ):
        r = hr.post(task_url(L1, t, action), data=data)
        assert r.status_code == 403, action
    assert task_of(db, L1, "Task_dept_review").assignee_id is None
    assert case_row(db, L1).status == "running"
    # applicants and administrators have no officer workspace
    assert signed_in(web_app, "zhangwei").get("/officer/").status_code == 403
    assert web_app.test_client().get("/officer/").status_code in (302, 401)


def test_post_without_csrf_token_is_refused(tmp_path, clock, demo_db_template):
    app = make_web_app(tmp_path, demo_db_template, WTF_CSRF_ENABLED=True)
    try:
        c = app.test_client()
        login(c, "dept_kjt")
        r = c.post(f"/officer/cases/{L1}/comment", data={"text": "没有令牌"})
        assert r.status_code == 400
        assert "CSRF 校验失败" in text(r) and "请刷新页面后重试" in text(r)
        s = app.extensions["db_factory"]()
        assert s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.action == "comment")) == 0
        s.close()
        # with the token from the page it goes through
        page = text(c.get(f"/officer/cases/{L1}"))
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        r = c.post(f"/officer/cases/{L1}/comment", data={"text": "有令牌", "csrf_token": token})
        assert r.status_code == 303
    finally:
        app.extensions["db_session"].remove()
        app.extensions["db_engine"].dispose()


# ------------------------------------------------------------------------------------------------ schema_forms
def test_schema_forms_fields_and_parsing(web_app, db):
    from workflows.domain.models import ProcessDefinition

    forms = {}
    for d in db.scalars(select(ProcessDefinition)):
        forms.update(d.source.get("forms") or {})
    db.commit()
    vote = forms["committee_vote.schema.json"]
    kinds = {f.name: f.kind for f in schema_forms.build_fields(vote)}
    assert kinds == {
        "experts_expected": "number",
        "experts_present": "number",
        "votes_for": "number",
        "votes_against": "number",
        "votes_abstain": "number",
        "vote_note": "textarea",
    }  # issue #10: 应到 added, so that 应到 ≥ 实到 ≥ 同意 is checked on the form; issue 12: 不同意 and 弃权 recorded
    data, errors = schema_forms.parse(vote, {"experts_present": "9", "votes_for": "abc", "vote_note": ""})
    assert data == {"experts_present": 9} and errors == {"votes_for": "请输入整数"}

    filing = forms["filing.schema.json"]
    f = schema_forms.build_fields(filing)[0]
    assert f.kind == "checkbox" and f.must_be_true
    assert schema_forms.parse(filing, {})[1] == {"filing_confirmed": "请勾选确认"}
    assert schema_forms.parse(filing, {"filing_confirmed": "1", "filing_note": " 已备案 "}) == (
        {"filing_confirmed": True, "filing_note": "已备案"},
        {},
    )

    unit = forms["unit_review.schema.json"]
    assert schema_forms.conditional_requirements(unit) == {"unit_opinion": ("unit_decision", "refuse")}
    assert schema_forms.parse(unit, {"unit_decision": "refuse"})[1] == {"unit_opinion": "选择该意见时须填写理由"}
    assert schema_forms.parse(unit, {"unit_decision": "approve"}) == ({"unit_decision": "approve"}, {})
    # a decision form without if/then still requires the opinion on refusal
    bare = {
        "type": "object",
        "properties": {
            "x_decision": {
                "type": "string",
                "oneOf": [{"const": "approve", "title": "同意"}, {"const": "refuse", "title": "不同意"}],
            },
            "x_opinion": {"type": "string", "maxLength": 50},
        },
        "required": ["x_decision"],
    }
    assert schema_forms.conditional_requirements(bare) == {"x_opinion": ("x_decision", "refuse")}
    fields = {
        f.name: f for f in schema_forms.build_fields(bare, {"x_decision": "refuse"}, {"x_opinion": "此项为必填项"})
    }
    assert fields["x_decision"].kind == "radio" and fields["x_decision"].checked("refuse")
    assert fields["x_opinion"].kind == "text" and fields["x_opinion"].error == "此项为必填项"
    assert fields["x_opinion"].required_when == ("x_decision", "refuse")
