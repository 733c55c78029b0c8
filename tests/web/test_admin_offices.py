"""Administrator console, 发文机关 (issue #11 item 2): each office's number series and prefixes, its seal image
(checked by content, size-limited), every change audited; the seal reaches the render data as `seal_image`.
Flask test client on a real SQLite file with the demo data."""

from __future__ import annotations

import base64
import io
import os

from PIL import Image
from sqlalchemy import select

from tests.web.conftest import signed_in
from workflows.domain.models import AdminEvent, DocSeries, Document, OfficeSeal
from workflows.services import archive, audit

BASE = "/admin/offices"


def _png(size=(300, 300), mode="RGBA") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, (200, 0, 0, 180) if mode == "RGBA" else (200, 0, 0)).save(buf, "PNG")
    return buf.getvalue()


def _noisy_png(size=(300, 300)) -> bytes:
    buf = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(buf, "PNG")
    return buf.getvalue()


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (300, 300), (200, 0, 0)).save(buf, "JPEG")
    return buf.getvalue()


def _upload(c, code: str, content: bytes, name: str = "seal.png"):
    return c.post(f"{BASE}/{code}/seal", data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data")


def _events(db) -> list[tuple]:
    db.expire_all()
    offices = select(AdminEvent).where(AdminEvent.target.like("office:%")).order_by(AdminEvent.seq)  # not registers'
    rows = [(e.action, e.target, e.actor) for e in db.scalars(offices)]
    db.commit()
    return rows


def test_only_administrators_reach_the_pages(web_app):
    for who in ("renshe", "hr_nky", "zhangwei"):
        c = signed_in(web_app, who)
        assert c.get(BASE).status_code == 403
        assert c.post(f"{BASE}/RS/series/acceptance", data={"prefix": "内人社审字"}).status_code == 403
        assert _upload(c, "RS", _png()).status_code == 403
    assert web_app.test_client().get(BASE).status_code in (302, 401)


def test_list_and_office_page_show_series_next_numbers_and_empty_states(web_app, db):
    c = signed_in(web_app, "admin")
    page = c.get(BASE).get_data(as_text=True)
    assert "发文机关" in page and 'data-office="RS"' in page and 'data-office="BB"' in page
    assert "内人社受字" in page and "内人社字" in page and "内人社备字" in page and "未上传" in page
    page = c.get(f"{BASE}/RS").get_data(as_text=True)
    db.expire_all()
    n = db.scalar(
        select(Document.seq)
        .where(Document.office_code == "RS", Document.kind_group == "acceptance")
        .order_by(Document.seq.desc())
        .limit(1)
    )
    db.commit()
    assert f"内人社受字〔2026〕{(n or 0) + 1}号" in page  # the next receipt number
    assert "受理通知书" in page and "办结通知书" in page and "容缺受理承诺书" not in page  # unnumbered: no series
    assert "暂无修改记录" in page and "尚未上传印章图片" in page
    assert c.get(f"{BASE}/NOPE").status_code == 404


def test_prefix_change_is_audited_and_never_renumbers(web_app, db):
    c = signed_in(web_app, "admin")
    db.expire_all()
    issued = {d.id: d.doc_no for d in db.scalars(select(Document).where(Document.office_code == "RS"))}
    db.commit()
    r = c.post(f"{BASE}/RS/series/acceptance", data={"prefix": "内人社审字"}, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "自下一个文号起使用" in page and "内人社受字 → 内人社审字" in page
    db.expire_all()
    assert {d.id: d.doc_no for d in db.scalars(select(Document).where(Document.office_code == "RS"))} == issued
    row = db.scalar(select(DocSeries).where(DocSeries.office_code == "RS", DocSeries.kind_group == "acceptance"))
    assert (row.prefix, row.updated_by) == ("内人社审字", "admin")
    db.commit()
    # refused: a prefix another series prints, a malformed one — 422 on the page, nothing changed
    for bad, why in (("内编字", "已被"), ("内人社〔审〕字", "只能由"), ("", "请填写")):
        r = c.post(f"{BASE}/RS/series/acceptance", data={"prefix": bad})
        assert r.status_code == 422 and why in r.get_data(as_text=True), bad
    assert c.post(f"{BASE}/RS/series/nope", data={"prefix": "内人社某字"}).status_code == 404
    assert _events(db) == [("series_prefix_changed", "office:RS", "admin")]
    assert audit.verify_admin_chain(db) == []


def test_adding_an_office_creates_its_default_series(web_app, db):
    c = signed_in(web_app, "admin")
    r = c.post(BASE, data={"office_code": "U0202"}, follow_redirects=True)
    assert r.status_code == 200 and "内工大受字" in r.get_data(as_text=True)
    db.expire_all()
    prefixes = {
        g: p
        for g, p in db.execute(select(DocSeries.kind_group, DocSeries.prefix).where(DocSeries.office_code == "U0202"))
    }
    db.commit()
    assert prefixes == {
        "acceptance": "内工大受字",
        "decision": "内工大字",
        "filing": "内工大备字",
        "publicity": "内工大公字",
        "bulletin": "内工大通字",  # 通报类 (the 季度调度通报 of the 科技厅)
    }
    assert c.post(BASE, data={"office_code": "NOPE"}).status_code == 404
    assert c.post(BASE, data={"office_code": ""}).status_code == 422
    assert _events(db) == [("office_added", "office:U0202", "admin")]


def test_seal_upload_rejects_what_is_not_a_png_seal_and_keeps_nothing(web_app, db):
    c = signed_in(web_app, "admin")
    cases = (
        (b"%PDF-1.4 not an image", "seal.png", "PNG"),  # a PDF named .png: the content decides
        (_jpeg(), "seal.png", "PNG"),
        (b"GIF89a" + b"\0" * 100, "seal.png", "不是 PDF、JPG 或 PNG"),
        (_noisy_png()[:4000], "seal.png", "无法读取"),  # truncated: the signature alone is not enough
        (_png((50, 50)), "seal.png", "像素"),
        (_png((2600, 300)), "seal.png", "像素"),
        (b"", "seal.png", "空文件"),
    )
    for content, name, why in cases:
        r = _upload(c, "RS", content, name)
        assert r.status_code in (413, 415, 422) and why in r.get_data(as_text=True), why
    big = _noisy_png((600, 600))
    assert len(big) > 512 * 1024
    r = _upload(c, "RS", big)
    assert r.status_code in (413, 422) and "不能超过 512 KB" in r.get_data(as_text=True)
    db.expire_all()
    assert db.get(OfficeSeal, "RS") is None and _events(db) == []
    db.commit()


def test_seal_upload_reaches_the_render_data_and_is_audited(web_app, db):
    from webapp.issuing import render_data

    c = signed_in(web_app, "admin")
    png = _png()
    r = _upload(c, "RS", png)
    assert r.status_code == 303
    page = c.get(f"{BASE}/RS").get_data(as_text=True)
    assert "300×300 像素" in page and "上传印章图片" in page and "删除印章图片" in page
    shown = c.get(f"{BASE}/RS/seal.png")
    assert shown.status_code == 200 and shown.data == png and shown.mimetype == "image/png"

    with web_app.app_context():
        db.expire_all()
        doc = db.scalar(select(Document).where(Document.office_code == "RS").limit(1))
        data = render_data(doc)
        other = db.scalar(select(Document).where(Document.office_code != "RS").limit(1))
        other_data = render_data(other) if other is not None else {"seal_image": None}
        db.commit()
    assert data["seal_image"] == "data:image/png;base64," + base64.b64encode(png).decode()
    assert other_data["seal_image"] is None  # another office: its own seal, here none
    # outside an app (a bare script) there is no upload store: no seal, no failure
    db.expire_all()
    assert render_data(db.get(Document, doc.id))["seal_image"] is None
    db.commit()

    r = c.post(f"{BASE}/RS/seal/delete", follow_redirects=True)
    assert r.status_code == 200 and "已删除印章图片" in r.get_data(as_text=True)
    assert c.post(f"{BASE}/RS/seal/delete").status_code == 404
    assert c.get(f"{BASE}/RS/seal.png").status_code == 404
    assert [a for a, *_ in _events(db)] == ["seal_uploaded", "seal_removed"]
    assert audit.verify_admin_chain(db) == []


def test_a_rendered_pdf_is_unchanged_by_a_later_seal(web_app, db):
    """The seal image is read at render time: an archived PDF never changes when the seal does."""
    db.expire_all()
    doc = db.scalar(select(Document).where(Document.office_code == "RS", Document.sha256.is_not(None)).limit(1))
    before = (doc.id, doc.sha256)
    db.commit()
    assert _upload(signed_in(web_app, "admin"), "RS", _png()).status_code == 303
    db.expire_all()
    assert (lambda d: (d.id, d.sha256))(db.get(Document, before[0])) == before
    assert archive.lookup(db, db.get(Document, before[0]).verify_code) is not None
    db.commit()
