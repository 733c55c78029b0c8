"""The dossier service (workflows/services/dossier.py): what every desk reads before deciding, per procedure."""

from __future__ import annotations

from sqlalchemy import event

from tests.helpers import act, find_task, registration, reload, special_post, start, task_names, title
from webapp.demo.accounts import actor_for
from workflows.services import cases as svc
from workflows.services import dossier, handling
from workflows.services.timers import fire_due_timers

RAW_CODES = {"rigid", "flexible", "local", "pool", "own", "approve", "refuse", "True", "False", "None"}


def _build(session, case_no):
    d = dossier.build(session, reload(session, case_no))
    session.commit()
    return d


def _shown(rows) -> dict[str, str]:
    return {r["label"]: r["display"] for r in rows}


def _no_raw_codes(d):
    shown = [r["display"] for r in d["application"] + d["decided"]]
    shown += [line["display"] for o in d["opinions"] for line in o["lines"]]
    assert not RAW_CODES & set(shown), shown


def test_registration_dossier_labels_fields_opinions_and_decided_values(session, clock):
    c = start(session, "green_channel_registration", registration(outside_establishment=False))
    act(session, c.case_no, "Task_unit_review")
    act(session, c.case_no, "Task_dept_review")
    d = _build(session, c.case_no)
    app = _shown(d["application"])
    assert app["姓名"] == "张伟" and app["公民身份号码"] == "150102199001011234"
    assert app["人才类别"] == "第三类" and app["引进方式"] == "刚性引进" and app["现为编制外聘用"] == "否"
    assert app["用人单位"] == "内蒙古农牧业科学院" or "农牧业科学院" in app["用人单位"]
    decided = _shown(d["decided"])
    assert decided["人才类别"] == "第三类" and decided["编制来源"] in ("本单位空余编制", "自治区人才专项编制")
    assert decided["承诺办结日期"].startswith("2026年")
    desks = [(o["step"], o["desk"], o["handler_name"]) for o in d["opinions"]]
    assert desks[0][1] == "用人单位人事专员" and desks[1][1] == "主管部门审核员"
    unit = _shown(d["opinions"][0]["lines"])
    assert unit["单位审核意见"] == "同意" and unit["单位意见说明"] == "经单位党委会研究，同意"
    assert all(o["at"] is not None for o in d["opinions"])
    mats = {m["code"]: m for m in d["materials"]}
    assert len(mats) == 8 and mats["id_card"]["is_key"] and not mats["resume"]["is_key"]
    assert mats["id_card"]["status_label"] == "已收取" and mats["id_card"]["key_label"] == "关键材料"
    _no_raw_codes(d)


def test_supplement_after_rongque_is_in_the_material_history(session, clock):
    data = registration(materials=[m for m in registration()["materials"] if m != "health_check"])
    c = start(session, "green_channel_registration", data)
    act(session, c.case_no, "Task_rongque_commitment")
    d = _build(session, c.case_no)
    hc = next(m for m in d["materials"] if m["code"] == "health_check")
    assert hc["status"] == "owed" and hc["status_label"] == "容缺待补" and hc["deadline"] is not None
    assert hc["history"] == [] and not hc["has_file"]
    assert "容缺补齐期限" in _shown(d["decided"])
    clock.to(2026, 3, 3, 10)
    svc.supply_material(
        session, c.case_no, "health_check", actor_for(session, "zhangwei"), file_name="体检报告.pdf", sha256="a" * 64
    )
    hc = next(m for m in _build(session, c.case_no)["materials"] if m["code"] == "health_check")
    assert hc["has_file"] and hc["sha256"] == "a" * 64
    [v] = hc["history"]
    assert v["kind"] == "supplement" and v["by_name"] == "张伟" and v["current"] and v["file_name"] == "体检报告.pdf"


def test_correction_return_is_in_the_history_and_in_returns(session, clock):
    c = start(session, "green_channel_registration", registration())
    t = find_task(session, c.case_no, "Task_unit_review")
    handling.return_for_correction(
        session, c.case_no, t.task_id, actor_for(session, "hr_nky"), "扫描件不清晰", items=["degree_certificate"]
    )
    d = _build(session, c.case_no)
    dc = next(m for m in d["materials"] if m["code"] == "degree_certificate")
    # the file uploaded with the application, then the return that asked for it again
    assert dc["status"] == "missing" and [v["kind"] for v in dc["history"]] == ["original", "returned"]
    assert dc["history"][1]["note"] == "扫描件不清晰"
    [r] = d["returns"]
    assert r["to_applicant"] and r["items"] == [{"code": "degree_certificate", "name": "学历学位证书"}]
    assert r["by_name"] and r["resolved_at"] is None


def test_special_post_dossier_shows_post_level_term_holder(session, clock):
    c = start(session, "special_post", special_post())
    d = _build(session, c.case_no)
    app = _shown(d["application"])
    assert app["岗位名称"] == "草原生态修复首席专家" and app["岗位等级"] == "专业技术二级"
    assert app["聘期（月）"] == "36个月" and app["拟聘人员姓名"] == "陈晨"
    assert app["本单位有相应等级空缺岗位"] == "否" and app["设置理由"] == "急需紧缺高层次人才"
    _no_raw_codes(d)


def test_title_dossier_shows_level_major_achievement_and_the_vote(session, factory, clock):
    c = start(session, "senior_title_direct", title(achievement="key_core_technology"))
    act(session, c.case_no, "Task_unit_review")
    clock.to(2026, 3, 7, 0, 5)
    assert fire_due_timers(factory) == 1
    act(session, c.case_no, "Task_dept_review")
    assert task_names(session, c.case_no) == ["Task_committee_vote"]
    act(
        session,
        c.case_no,
        "Task_committee_vote",
        {
            "experts_expected": 11,
            "experts_present": 9,
            "votes_for": 7,
            "votes_against": 1,
            "votes_abstain": 1,
            "vote_note": "表决通过",
        },
    )
    d = _build(session, c.case_no)
    app = _shown(d["application"])
    assert app["申报级别"] == "正高级" and app["申报专业"] == "作物遗传育种"
    assert app["重大业绩"] == "突破关键核心技术" and app["人才来源"] == "刚性引进"
    [vote] = d["votes"]
    assert _shown(vote["lines"]) == {
        "应到专家人数": "11",
        "实到专家人数": "9",
        "同意票数": "7",
        "不同意票数": "1",
        "弃权票数": "1",
        "表决情况说明": "表决通过",
    }
    assert vote["passed"] is True and "通过" in vote["result"] and "7/9" in vote["result"]
    assert [o["desk"] for o in d["opinions"]] == ["用人单位人事专员", "主管部门审核员", "评委会办公室"]
    _no_raw_codes(d)


def test_one_query_per_kind_of_row_whatever_the_number_of_materials(session, clock):
    c = start(session, "green_channel_registration", registration())
    act(session, c.case_no, "Task_unit_review")
    case = reload(session, c.case_no)
    case.definition.source  # noqa: B018  (the page has it loaded for the task form already)
    statements = []
    listener = lambda *a: statements.append(a[2])  # noqa: E731
    event.listen(session.get_bind(), "before_cursor_execute", listener)
    try:
        dossier.build(session, case)
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listener)
    session.commit()
    assert len(statements) <= 4, statements  # events, corrections, users, unit name
