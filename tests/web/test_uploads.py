"""Uploaded materials (webapp/uploads.py): one check for the pages and the API (content by its first bytes, the whole
PNG signature, 10 MB, a Chinese message, nothing stored when refused), one name cleaning, and the store chosen by
UPLOAD_STORE — so that a file uploaded through one web host is downloaded through another: two app instances with
different UPLOAD_DIRs on one PostgreSQL database (UPLOAD_STORE=database), and on an S3-compatible server (moto's
standalone server, UPLOAD_STORE=s3)."""

from __future__ import annotations

import hashlib
import io
import os
import re

import pytest
from sqlalchemy import select, update
from werkzeug.datastructures import FileStorage

from tests.conftest import PG_URL
from tests.helpers import ALL_REG_MATERIALS
from tests.s3server import ACCESS, new_bucket, s3_endpoint  # noqa: F401  (s3_endpoint is a fixture)
from tests.web.conftest import bearer, login, make_web_app
from webapp import ConfigurationError, create_app, uploads
from workflows.domain.models import Case, Material, StoredFile
from workflows.infra import blobs

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
BAD_PNG = b"\x89PNG\x00\x00\x00\x00" + b"\x00" * 32  # the first four bytes of a PNG, not its signature
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64
BIG = b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024)  # one byte over 10 MB
REG = "green_channel_registration"


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def files_in(folder) -> list[str]:
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def stored_rows(app) -> list[str]:
    s = app.extensions["db_factory"]()
    try:
        return list(s.scalars(select(StoredFile.sha256).order_by(StoredFile.sha256)))
    finally:
        s.close()


def upload(client, url: str, content: bytes, name: str, headers=None):
    return client.post(
        url, data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data", headers=headers or {}
    )


def dispose(*apps):
    for app in apps:
        app.extensions["db_session"].remove()
        app.extensions["db_engine"].dispose()


# ---- the checks -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content, name, refusal, words",
    [
        (BAD_PNG, "照片.png", uploads.FileTypeRefused, "不是 PDF、JPG 或 PNG 文件"),
        (EXE, "体检报告.pdf", uploads.FileTypeRefused, "不是 PDF、JPG 或 PNG 文件"),  # a renamed program
        (BIG, "扫描件.pdf", uploads.FileTooLarge, "超过 10 MB"),
        (b"", "空.pdf", uploads.FileEmpty, "空文件"),
    ],
)
def test_check_refuses_with_a_chinese_message(tmp_path, content, name, refusal, words):
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path}/c.sqlite3", "TESTING": True, "UPLOAD_DIR": str(tmp_path / "up")}
    )
    with app.test_request_context():
        with pytest.raises(refusal) as e:
            uploads.check(FileStorage(io.BytesIO(content), name), "体检报告")
        assert isinstance(e.value, uploads.UploadRejected) and e.value.status == 422
        assert words in e.value.message and e.value.message.startswith("“体检报告”")
        assert e.value.details["fields"]["file"]
        assert uploads.check(None) is None and uploads.check(FileStorage(io.BytesIO(PDF), "")) is None
        good = uploads.check(FileStorage(io.BytesIO(PNG), "照片.png"))
        assert (good.mimetype, good.sha256, good.display_name) == ("image/png", sha(PNG), "照片.png")
    assert files_in(tmp_path / "up") == []
    dispose(app)


def test_display_names_keep_chinese_readable():
    assert uploads.display_name("张三 简历（终稿）.pdf", "材料", ".pdf") == "张三_简历（终稿）.pdf"
    assert uploads.display_name("D:\\扫描\\学位证 2024.jpeg", "材料", ".jpg") == "学位证_2024.jpeg"
    assert uploads.display_name("《体检报告》", "体检报告", ".pdf") == "体检报告.pdf"
    assert uploads.display_name("<script>.png", "照片", ".png") == "script_.png"
    assert uploads.display_name("...", "学历/学位证书", ".pdf") == "学历_学位证书.pdf"
    assert len(uploads.display_name("长" * 300 + ".pdf", "材料", ".pdf")) == 120


# ---- the store setting ----------------------------------------------------------------------------------------
def test_upload_store_defaults_to_the_database_in_production(tmp_path, monkeypatch):
    def app(**config):
        return create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp_path}/s.sqlite3",
                "TESTING": True,
                "UPLOAD_DIR": str(tmp_path / "up"),
                **config,
            }
        )

    monkeypatch.delenv("UPLOAD_STORE", raising=False)
    monkeypatch.delenv("APP_ENV", raising=False)
    a = app()
    assert isinstance(a.extensions["upload_store"], blobs.FilesystemStore)
    monkeypatch.setenv("APP_ENV", "production")
    b = app()
    store = b.extensions["upload_store"]
    assert isinstance(store, blobs.ReadThrough) and isinstance(store.primary, blobs.DatabaseStore)
    assert isinstance(store.legacy, blobs.FilesystemStore) and str(store.legacy.directory) == str(tmp_path / "up")
    c = app(UPLOAD_STORE="filesystem")
    assert isinstance(c.extensions["upload_store"], blobs.FilesystemStore)
    monkeypatch.setenv("UPLOAD_STORE", "s3")
    monkeypatch.setenv("S3_BUCKET", "gc-uploads")
    d = app()
    assert isinstance(d.extensions["upload_store"].primary, blobs.S3Store)
    assert d.extensions["upload_store"].primary.prefix == "uploads/"
    monkeypatch.delenv("S3_BUCKET")
    with pytest.raises(ConfigurationError, match="S3_BUCKET"):
        app()
    with pytest.raises(ConfigurationError, match="UPLOAD_STORE"):
        app(UPLOAD_STORE="floppy")
    dispose(a, b, c, d)


def test_copy_uploads_moves_the_files_of_a_host_into_the_database(tmp_path):
    folder = tmp_path / "up"
    folder.mkdir()
    (folder / sha(PDF)).write_bytes(PDF)
    (folder / sha(PNG)).write_bytes(b"damaged on disk")
    (folder / "README.txt").write_text("not an upload")
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path}/c.sqlite3",
            "TESTING": True,
            "UPLOAD_DIR": str(folder),
            "UPLOAD_STORE": "filesystem",
        }
    )
    cli = app.test_cli_runner()
    r = cli.invoke(args=["copy-uploads"])
    assert r.exit_code != 0 and "--to database" in r.output  # the files are where the app reads them already
    r = cli.invoke(args=["copy-uploads", "--to", "database"])
    assert r.exit_code == 0, r.output
    assert "新复制 1 个，已存在 0 个，内容与文件名不符 1 个" in r.output and sha(PNG) in r.output
    assert stored_rows(app) == [sha(PDF)]
    r = cli.invoke(args=["copy-uploads", "--to", "database"])
    assert "新复制 0 个，已存在 1 个" in r.output  # again: nothing to do
    s = app.extensions["db_factory"]()
    assert s.scalar(select(StoredFile.content_type)) == "application/pdf"
    s.close()
    assert files_in(folder) == sorted([sha(PDF), sha(PNG), "README.txt"])  # the disk is left as it was
    dispose(app)


# ---- through the routes, with the database store --------------------------------------------------------------
@pytest.fixture
def db_store_app(tmp_path, clock, demo_db_template):
    app = make_web_app(tmp_path, demo_db_template, UPLOAD_DIR=str(tmp_path / "up"), UPLOAD_STORE="database")
    yield app
    dispose(app)


def _owed_case_no(app) -> str:
    s = app.extensions["db_factory"]()
    try:
        return s.scalar(select(Case.case_no).where(Case.rongque_deadline.is_not(None), Case.applicant_name == "张伟"))
    finally:
        s.close()


def test_refused_files_leave_nothing_in_the_store(db_store_app, tmp_path):
    case_no = _owed_case_no(db_store_app)
    api, auth = db_store_app.test_client(), bearer(db_store_app, "zhangwei")
    url = f"/api/v1/cases/{case_no}/materials/health_check"
    for content, name, status, code in (
        (BAD_PNG, "scan.png", 415, "unsupported_media_type"),
        (EXE, "体检报告.pdf", 415, "unsupported_media_type"),
        (BIG, "big.pdf", 413, "too_large"),
        (b"", "empty.pdf", 422, "validation_failed"),
    ):
        r = upload(api, url, content, name, auth)
        assert r.status_code == status and r.json["error"]["code"] == code, (name, r.json)
        assert re.search(r"[\u4e00-\u9fff]", r.json["error"]["message"])  # said in Chinese
    page = db_store_app.test_client()
    login(page, "zhangwei")
    supply = f"/my/case/{case_no}/supply/health_check"
    for content, words in (
        (BAD_PNG, "不是 PDF、JPG 或 PNG 文件"),
        (EXE, "不是 PDF、JPG 或 PNG 文件"),
        (BIG, "超过 10 MB"),
    ):
        r = page.post(
            supply,
            data={"file": (io.BytesIO(content), "体检报告.pdf")},
            content_type="multipart/form-data",
            follow_redirects=True,
        )
        assert words in r.get_data(as_text=True)
    assert stored_rows(db_store_app) == [] and files_in(tmp_path / "up") == []

    # a good file goes to the database (not to this host's disk) and comes back byte for byte
    r = upload(api, url, PDF, "体检报告.pdf", auth)
    assert r.status_code == 200, r.json
    assert stored_rows(db_store_app) == [sha(PDF)] and files_in(tmp_path / "up") == []
    r = api.get(url, headers=auth)
    assert r.status_code == 200 and r.data == PDF and r.mimetype == "application/pdf"
    assert r.headers["X-Content-SHA256"] == sha(PDF) and "attachment" in r.headers["Content-Disposition"]
    assert page.get(f"/my/case/{case_no}/materials/health_check").data == PDF


def test_a_file_kept_under_upload_dir_before_the_switch_is_still_downloaded(db_store_app, tmp_path):
    case_no = _owed_case_no(db_store_app)
    old = b"%PDF-1.4 uploaded before UPLOAD_STORE=database"
    (tmp_path / "up").mkdir(exist_ok=True)
    (tmp_path / "up" / sha(old)).write_bytes(old)
    s = db_store_app.extensions["db_factory"]()
    case_id = s.scalar(select(Case.id).where(Case.case_no == case_no))
    s.execute(
        update(Material)
        .where(Material.case_id == case_id, Material.code == "id_card")
        .values(sha256=sha(old), file_name="身份证.pdf")
    )
    s.commit()
    s.close()
    r = db_store_app.test_client().get(
        f"/api/v1/cases/{case_no}/materials/id_card", headers=bearer(db_store_app, "hr_nky")
    )
    assert r.status_code == 200 and r.data == old
    assert stored_rows(db_store_app) == [sha(old)]  # copied into the database on the way: now every host has it


def test_download_route_scope_and_missing_files(db_store_app):
    case_no = _owed_case_no(db_store_app)
    base = f"/api/v1/cases/{case_no}/materials"
    c = db_store_app.test_client()
    assert c.get(f"{base}/id_card").status_code == 401
    assert c.get(f"{base}/id_card", headers=bearer(db_store_app, "liuna")).status_code == 404  # not her case
    hr = bearer(db_store_app, "hr_nky")
    r = c.get(f"{base}/health_check", headers=hr)  # owed: no file yet
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"
    assert c.get(f"{base}/nonexistent", headers=hr).status_code == 404


# ---- two web hosts, one PostgreSQL database -------------------------------------------------------------------
@pytest.mark.postgres
def test_a_file_uploaded_through_one_host_is_downloaded_through_another(pg_factory, clock, tmp_path):
    """Host A and host B: two app instances, each with its own UPLOAD_DIR (no shared disk), one PostgreSQL."""

    def host(name):
        return create_app(
            {
                "DATABASE_URL": PG_URL,
                "TESTING": True,
                "WTF_CSRF_ENABLED": False,
                "UPLOAD_DIR": str(tmp_path / name),
                "UPLOAD_STORE": "database",
                "SECRET_KEY": "one-secret-for-every-host",
            }
        )

    a, b = host("a"), host("b")
    try:
        # on A: the applicant applies with every file but the health check, signs the 容缺 commitment …
        zhang_a = a.test_client()
        login(zhang_a, "zhangwei")
        content = {code: PDF + code.encode() for code in ALL_REG_MATERIALS if code != "health_check"}
        content["id_card"] = PNG + b"id_card"
        data = {"unit_code": "U0101", "talent_category": "3", "introduction_mode": "rigid", "action": "submit"}
        for code, body in content.items():
            data[f"file_{code}"] = (io.BytesIO(body), "居民身份证（正面）.png" if code == "id_card" else f"{code}.pdf")
        r = zhang_a.post(f"/my/new/{REG}", data=data, content_type="multipart/form-data")
        assert r.status_code == 302 and r.headers["Location"].endswith("/commitment"), r.get_data(as_text=True)[:300]
        case_no = re.search(r"/my/case/([0-9A-Z]+)/", r.headers["Location"]).group(1)
        assert zhang_a.post(f"/my/case/{case_no}/commitment", data={"commitment_signed": "1"}).status_code == 302
        # … and supplies the owed item through A's JSON API
        health = PDF + b"health check, supplied later"
        r = upload(
            a.test_client(),
            f"/api/v1/cases/{case_no}/materials/health_check",
            health,
            "体检报告.pdf",
            bearer(a, "zhangwei"),
        )
        assert r.status_code == 200, r.json

        # on B: the unit's officer opens the case page and follows the download link of the ID card
        hr_b = b.test_client()
        login(hr_b, "hr_nky")
        page = hr_b.get(f"/officer/cases/{case_no}").get_data(as_text=True)
        link = f"/api/v1/cases/{case_no}/materials/id_card"
        assert f'href="{link}"' in page and "居民身份证（正面）.png" in page
        r = hr_b.get(link)
        assert r.status_code == 200 and r.data == content["id_card"] and r.mimetype == "image/png"
        assert r.headers["X-Content-SHA256"] == sha(content["id_card"])
        # B's API and B's applicant page give the same bytes
        r = b.test_client().get(f"/api/v1/cases/{case_no}/materials/health_check", headers=bearer(b, "hr_nky"))
        assert r.status_code == 200 and r.data == health
        zhang_b = b.test_client()
        login(zhang_b, "zhangwei")
        for code, body in content.items():
            assert zhang_b.get(f"/my/case/{case_no}/materials/{code}").data == body, code

        # nothing on either host's disk: every file is in the database, once
        assert files_in(tmp_path / "a") == [] and files_in(tmp_path / "b") == []
        assert stored_rows(b) == sorted(sha(x) for x in [*content.values(), health])

        # a file A kept on its own disk before the switch: B finds it once A has read it (and copied it over)
        old = PDF + b"kept on host A before UPLOAD_STORE=database"
        (tmp_path / "a").mkdir(exist_ok=True)
        (tmp_path / "a" / sha(old)).write_bytes(old)
        s = a.extensions["db_factory"]()
        case_id = s.scalar(select(Case.id).where(Case.case_no == case_no))
        s.execute(
            update(Material).where(Material.case_id == case_id, Material.code == "resume").values(sha256=sha(old))
        )
        s.commit()
        s.close()
        resume = f"/api/v1/cases/{case_no}/materials/resume"
        assert hr_b.get(resume).status_code == 404
        assert zhang_a.get(f"/my/case/{case_no}/materials/resume").data == old
        assert hr_b.get(resume).data == old
    finally:
        dispose(a, b)


# ---- two web hosts, one S3-compatible bucket ------------------------------------------------------------------
def test_two_hosts_share_files_through_an_s3_compatible_server(s3_endpoint, tmp_path, clock, demo_db_template):  # noqa: F811
    """Host A and host B on one database (a copy of the demo data) and one bucket of a local S3 server."""
    bucket = new_bucket(s3_endpoint)
    s3 = {
        "UPLOAD_STORE": "s3",
        "S3_ENDPOINT_URL": s3_endpoint,
        "S3_BUCKET": bucket,
        "S3_PREFIX": "gc/",
        "S3_ACCESS_KEY_ID": ACCESS["access_key"],
        "S3_SECRET_ACCESS_KEY": ACCESS["secret_key"],
        "S3_REGION": ACCESS["region"],
    }
    a = make_web_app(tmp_path, demo_db_template, UPLOAD_DIR=str(tmp_path / "a"), **s3)
    b = create_app({**a.config, "UPLOAD_DIR": str(tmp_path / "b")})  # same database file, another disk
    try:
        case_no = _owed_case_no(a)
        url = f"/api/v1/cases/{case_no}/materials/no_crime_record"
        r = upload(a.test_client(), url, PNG + b"no crime", "无犯罪记录证明.png", bearer(a, "zhangwei"))
        assert r.status_code == 200, r.json
        r = b.test_client().get(url, headers=bearer(b, "renshe"))
        assert r.status_code == 200 and r.data == PNG + b"no crime" and r.mimetype == "image/png"
        store = b.extensions["upload_store"].primary
        assert list(store.keys()) == [sha(PNG + b"no crime")]
        assert files_in(tmp_path / "a") == [] and files_in(tmp_path / "b") == []
        # refused files never reach the bucket
        r = upload(
            a.test_client(), f"/api/v1/cases/{case_no}/materials/health_check", BAD_PNG, "x.png", bearer(a, "zhangwei")
        )
        assert r.status_code == 415 and len(list(store.keys())) == 1
    finally:
        dispose(a, b)
