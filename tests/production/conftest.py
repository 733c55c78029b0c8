"""The production shape, for real: its own PostgreSQL database per test, `flask db-upgrade` + `flask init-db` as
subprocesses, gunicorn with 2 workers on a free port, `flask worker`/`flask sweep` processes, HTTP clients with
bearer tokens. Skipped with a reason when no PostgreSQL server is configured (TEST_DATABASE_URL), failed instead when
REQUIRE_POSTGRES=1 (CI).

Each test gets `gc_prod_<random>` created on the TEST_DATABASE_URL server (through its `postgres` maintenance
database; the `test` database the other tests reset is never touched) and dropped at teardown.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, require_postgres
from workflows.infra.db import make_engine, make_session_factory

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

# Runs the Flask CLI with the wall clock moved (time_machine, ticking): the app then sees timers that are really due
# by its own clock, exactly as it would on that day. Nothing stored is edited to make a timer due.
TRAVEL_LAUNCHER = (
    "import sys, datetime, time_machine\n"
    "time_machine.travel(datetime.datetime.fromisoformat(sys.argv[1]), tick=True).start()\n"
    "from flask.cli import main\n"
    "sys.argv = ['flask'] + sys.argv[2:]\n"
    "main()\n"
)

from webapp.demo.samples import ALL_REG_MATERIALS, APPROVE_FORMS  # noqa: E402

REG = "green_channel_registration"
ALL_MATERIALS = ALL_REG_MATERIALS
FORMS = {**APPROVE_FORMS, "Task_quota_adjust": {"adjust_decision": "refuse", "adjust_note": "暂无编制可调剂"}}


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "production: the production shape with real processes (gunicorn, flask "
        "worker) on a PostgreSQL database of its own; needs TEST_DATABASE_URL",
    )


def _pg_server_reachable() -> bool:
    if not PG_URL or not PG_URL.startswith("postgres"):
        return False
    try:
        e = create_engine(_maintenance_url(), isolation_level="AUTOCOMMIT")
        with e.connect() as c:
            c.execute(text("SELECT 1"))
        e.dispose()
        return True
    except Exception:
        return False


def _maintenance_url() -> str:
    url = make_url(make_engine_url(PG_URL)).set(database="postgres")
    return url.render_as_string(hide_password=False)


def make_engine_url(url: str) -> str:
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def wait_for_postgres(timeout: float = 60) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if _pg_server_reachable():
            return
        time.sleep(0.5)
    raise RuntimeError("PostgreSQL did not come back")


@pytest.fixture
def prod_db():
    """URL of a fresh, empty database of this test's own (dropped at teardown)."""
    require_postgres(
        _pg_server_reachable(),
        "production tests need a server: set TEST_DATABASE_URL="
        "postgresql+psycopg://user@host:5432/test (a database gc_prod_<random> is created beside it)",
    )
    name = f"gc_prod_{secrets.token_hex(6)}"
    admin = create_engine(_maintenance_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(make_engine_url(PG_URL)).set(database=name).render_as_string(hide_password=False)
    yield url
    wait_for_postgres()  # a test may have restarted the server
    admin = create_engine(_maintenance_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Deployment:
    """One installation: the database, the environment the processes share, the processes started."""

    def __init__(self, url: str, workdir: Path):
        self.url, self.workdir = url, workdir
        self.procs: list[tuple[str, subprocess.Popen, Path]] = []
        self.base_env = {
            **os.environ,
            "FLASK_APP": "webapp",
            "APP_ENV": "production",
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_hex(32),
            "PUBLIC_BASE_URL": "https://rsj.example.gov.cn",  # required under APP_ENV=production
            "SIGNING_KEY_PASSPHRASE": secrets.token_hex(16),
            "SWEEP_IN_PROCESS": "0",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "WARNING",
            "UPLOAD_DIR": str(workdir / "uploads"),
            "PYTHONUNBUFFERED": "1",
        }
        for k in ("TEST_DATABASE_URL", "REQUIRE_POSTGRES", "WEB_CONCURRENCY", "BIND", "PORT"):
            self.base_env.pop(k, None)
        self.engine = make_engine(url, pool_size=2, max_overflow=2)
        self.factory = make_session_factory(self.engine)
        self.port: int | None = None
        self._tokens: dict[str, str] = {}
        self.timings: dict[str, float] = {}

    # -- commands -------------------------------------------------------------------------------------------------
    def env(self, **extra) -> dict:
        return {**self.base_env, **{k: str(v) for k, v in extra.items()}}

    def flask(self, *args: str, check: bool = True, timeout: float = 180, **env) -> subprocess.CompletedProcess:
        t0 = time.time()
        r = subprocess.run(
            [PYTHON, "-m", "flask", *args],
            cwd=ROOT,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.timings[f"flask {' '.join(args)}"] = round(time.time() - t0, 2)
        if check and r.returncode != 0:
            raise AssertionError(
                f"flask {' '.join(args)} exited {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
            )
        return r

    def install(self, demo: bool = True) -> None:
        """What the README's production section does: migrate, deploy the bundled definitions (+ demo data)."""
        out = self.flask("db-upgrade").stdout
        assert "created" in out or "upgraded" in out, out
        self.flask("init-db", *(["--demo"] if demo else []))

    def spawn(self, name: str, argv: list[str], **env) -> subprocess.Popen:
        log = self.workdir / f"{name}-{len(self.procs)}.log"
        fh = open(log, "w")
        p = subprocess.Popen(
            argv, cwd=ROOT, env=self.env(**env), stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
        fh.close()
        self.procs.append((name, p, log))
        return p

    def start_web(self, workers: int = 2) -> subprocess.Popen:
        self.port = free_port()
        t0 = time.time()
        p = self.spawn(
            "gunicorn",
            [PYTHON, "-m", "gunicorn", "-c", "webapp/gunicorn_conf.py", "webapp.wsgi:app"],
            BIND=f"127.0.0.1:{self.port}",
            WEB_CONCURRENCY=workers,
            GUNICORN_LOG_LEVEL="info",
        )
        while time.time() - t0 < 60:
            if p.poll() is not None:
                raise AssertionError(f"gunicorn exited {p.returncode}:\n{self.log_of(p)[-4000:]}")
            try:
                status, body, _ = Client(self.port).call("GET", "/readyz")
                if status == 200 and body.get("status") == "ready":
                    self.timings["gunicorn ready"] = round(time.time() - t0, 2)
                    return p
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("gunicorn did not become ready in 60 s:\n" + self.log_of(p)[-4000:])

    def start_flask(self, name: str, *args: str, travel_to: str | None = None, **env) -> subprocess.Popen:
        argv = [PYTHON, "-c", TRAVEL_LAUNCHER, travel_to, *args] if travel_to else [PYTHON, "-m", "flask", *args]
        return self.spawn(name, argv, **env)

    def log_of(self, p: subprocess.Popen) -> str:
        for _n, q, log in self.procs:
            if q is p:
                return log.read_text(errors="replace")
        return ""

    def stop(self, p: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
                raise AssertionError(f"process {p.args[:4]} did not stop within {timeout} s after {sig}") from None
        return p.returncode

    def close(self) -> None:
        for _n, p, _log in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(15)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    p.wait(5)
        self.engine.dispose()

    # -- tokens and clients ---------------------------------------------------------------------------------------
    def token(self, username: str) -> str:
        """A bearer token for a demo user (stored hashed, exactly as `flask create-token` does)."""
        if username not in self._tokens:
            from webapp.api import new_token
            from workflows.domain.models import User

            s = self.factory()
            try:
                user = s.scalar(select(User).where(User.username == username))
                _row, secret = new_token(s, user, f"production test {username}")
            finally:
                s.close()
            self._tokens[username] = secret
        return self._tokens[username]

    def client(self, username: str | None) -> Client:
        return Client(self.port, self.token(username) if username else None)

    def adjust_quota(self, unit_code: str | None, delta: int) -> None:
        """编办 adds places (through the service, so the ledger records it)."""
        from workflows.domain.models import QuotaPool
        from workflows.infra.db import transaction
        from workflows.services.quota import adjust_pool

        s = self.factory()
        try:
            q = (
                select(QuotaPool).where(QuotaPool.unit_code == unit_code)
                if unit_code
                else select(QuotaPool).where(QuotaPool.kind == "talent_pool")
            )
            pool = s.scalar(q)
            with transaction(s):
                adjust_pool(s, pool.id, delta, "production test")
        finally:
            s.close()


@pytest.fixture
def deployment(prod_db, tmp_path):
    d = Deployment(prod_db, tmp_path)
    yield d
    d.close()


class Client:
    """A tiny JSON client on http.client (one keep-alive connection per client; reconnects after errors)."""

    def __init__(self, port: int, token: str | None = None, timeout: float = 60):
        self.port, self.token, self.timeout = port, token, timeout
        self.conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        return self.conn

    def call(
        self,
        method: str,
        path: str,
        payload=None,
        headers: dict | None = None,
        raw: bytes | None = None,
        content_type: str | None = None,
    ):
        h = {"Accept": "application/json", "X-Request-ID": uuid.uuid4().hex}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        body = raw
        if payload is not None:
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            h["Content-Type"] = "application/json"
        if content_type:
            h["Content-Type"] = content_type
        h.update(headers or {})
        try:
            conn = self._connection()
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            raise
        if resp.getheader("Connection", "").lower() == "close":
            conn.close()
            self.conn = None
        try:
            parsed = json.loads(data) if data else {}
        except ValueError:
            parsed = {"_raw": data[:500].decode("utf-8", "replace")}
        return resp.status, parsed, dict(resp.getheaders())

    def upload(self, path: str, filename: str, content: bytes, mime: str, headers: dict | None = None):
        boundary = "----gc" + uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                f"Content-Type: {mime}\r\n\r\n"
            ).encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return self.call(
            "POST", path, raw=body, content_type=f"multipart/form-data; boundary={boundary}", headers=headers
        )


def registration(name: str, id_number: str, unit: str = "U0101", materials=None, **over) -> dict:
    """A registration filed by the unit's officer, who received the listed papers at the desk (an officer's
    recorded in-person receipt: the one way a material counts as received without an uploaded file)."""
    listed = list(ALL_MATERIALS if materials is None else materials)
    return {
        "procedure": REG,
        "data": {
            "applicant_name": name,
            "id_number": id_number,
            "unit_code": unit,
            "talent_category": 3,
            "introduction_mode": "rigid",
            "outside_establishment": False,
            "materials": listed,
            **over,
        },
        "received_in_person": listed,
    }


def id_number(i: int) -> str:
    return f"1501021990{(i // 28) % 12 + 1:02d}{i % 28 + 1:02d}{5000 + i:04d}"[:18]


# ------------------------------------------------------------------------------------------------------------------
# Consistency checks on the stored data (read straight from the database)
# ------------------------------------------------------------------------------------------------------------------
def check_cases_consistent(d: Deployment) -> dict:
    """For every case: the stored open-task projection is exactly what the stored instance says is ready, the status
    agrees with the instance, the next timer agrees, and the audit chain verifies. Returns a status histogram."""
    from workflows.domain.actors import SYSTEM
    from workflows.domain.models import Case
    from workflows.engine import instances as wf_engine
    from workflows.services.audit import verify_chain
    from workflows.services.runtime import TERMINAL, CaseRun

    s = d.factory()
    problems, statuses = [], Counter()
    try:
        for case in s.scalars(select(Case).order_by(Case.id)):
            statuses[case.status] += 1
            for p in verify_chain(s, case):
                problems.append(f"{case.case_no}: audit {p}")
            wf = CaseRun(s, case, SYSTEM).restore()
            stored = {t.task_id for t in case.open_tasks}
            if case.status in TERMINAL:
                if stored:
                    problems.append(f"{case.case_no}: {case.status} but open tasks {stored}")
                if case.next_timer_at is not None:
                    problems.append(f"{case.case_no}: {case.status} but a timer at {case.next_timer_at}")
                continue
            ready = {r.task_id for r in wf_engine.ready_user_tasks(wf)}
            if stored != ready:
                problems.append(f"{case.case_no}: open tasks {stored} but the instance has {ready} ready")
            if wf.is_completed():
                problems.append(f"{case.case_no}: instance completed but status {case.status}")
            holds = [t for t in case.open_tasks if t.hold_reason]
            if case.status == "on_hold" and not holds:
                problems.append(f"{case.case_no}: on_hold without a hold task")
            if case.status == "running" and holds:
                problems.append(f"{case.case_no}: running with a hold task open")
            next_at, _msgs = wf_engine.waiting(wf)
            if (next_at is None) != (case.next_timer_at is None):
                problems.append(f"{case.case_no}: next timer {case.next_timer_at} but the instance waits {next_at}")
        s.commit()
    finally:
        s.close()
    assert not problems, "\n".join(problems[:30])
    return dict(statuses)


def check_quota_ledger(d: Deployment) -> dict:
    """reserved and used of every pool = the sums of its movements = the places the cases hold / have consumed."""
    from workflows.domain.models import Case, QuotaMovement, QuotaPool
    from workflows.services.runtime import TERMINAL

    s = d.factory()
    out, problems = {}, []
    try:
        for pool in s.scalars(select(QuotaPool).order_by(QuotaPool.id)):
            sums = dict(
                s.execute(
                    select(QuotaMovement.kind, func.coalesce(func.sum(QuotaMovement.amount), 0))
                    .where(QuotaMovement.pool_id == pool.id)
                    .group_by(QuotaMovement.kind)
                ).all()
            )
            reserve, release, consume = (int(sums.get(k, 0)) for k in ("reserve", "release", "consume"))
            per_case = {}
            for case_id, kind, amount in s.execute(
                select(QuotaMovement.case_id, QuotaMovement.kind, QuotaMovement.amount).where(
                    QuotaMovement.pool_id == pool.id, QuotaMovement.case_id.is_not(None)
                )
            ):
                sign = {"reserve": 1, "release": -1, "consume": -1}.get(kind, 0)
                held, used = per_case.get(case_id, (0, 0))
                per_case[case_id] = (held + sign * amount, used + (amount if kind == "consume" else 0))
            holding = [cid for cid, (h, _u) in per_case.items() if h > 0]
            consumed = [cid for cid, (_h, u) in per_case.items() if u > 0]
            if any(h < 0 or h > 1 for h, _u in per_case.values()):
                problems.append(f"pool {pool.id}: a case holds {per_case}")
            if pool.reserved != reserve - release - consume or pool.reserved != len(holding):
                problems.append(
                    f"pool {pool.id} {pool.name}: reserved {pool.reserved}, movements "
                    f"{reserve}-{release}-{consume}, cases holding {len(holding)}"
                )
            if pool.used != consume or pool.used != len(consumed):
                problems.append(
                    f"pool {pool.id} {pool.name}: used {pool.used}, consumed {consume} by {len(consumed)} cases"
                )
            if pool.reserved + pool.used > pool.total:
                problems.append(f"pool {pool.id}: reserved {pool.reserved} + used {pool.used} > total {pool.total}")
            for cid in holding:
                c = s.get(Case, cid)
                if c.status in TERMINAL:
                    problems.append(f"{c.case_no}: {c.status} but still holds a place in pool {pool.id}")
            for cid in consumed:
                c = s.get(Case, cid)
                if c.status != "completed":
                    problems.append(f"{c.case_no}: consumed a place but is {c.status}")
            out[pool.name] = {"total": pool.total, "reserved": pool.reserved, "used": pool.used}
        s.commit()
    finally:
        s.close()
    assert not problems, "\n".join(problems)
    return out


def events_by_case(d: Deployment, action: str) -> dict[str, list]:
    from workflows.domain.models import Case, CaseEvent

    s = d.factory()
    try:
        out: dict[str, list] = {}
        for no, ev in s.execute(
            select(Case.case_no, CaseEvent)
            .join(CaseEvent, CaseEvent.case_id == Case.id)
            .where(CaseEvent.action == action)
            .order_by(CaseEvent.case_id, CaseEvent.seq)
        ):
            out.setdefault(no, []).append(ev)
        s.commit()
        return out
    finally:
        s.close()


def start_publicity_cases(d: Deployment, n: int, threads: int = 8) -> list[str]:
    """`n` 编制外聘用 registrations moved through the API into their unit 公示 (a timer: the 公示 end)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    local = threading.local()

    def one(i: int) -> str:
        if getattr(local, "c", None) is None:
            local.c = d.client("hr_nky")
        c = local.c
        status, case, _ = c.call(
            "POST",
            "/api/v1/cases",
            registration(f"丁{i}", id_number(400 + i), outside_establishment=True, original_hire_date="2024-03-01"),
        )
        assert status == 201, (status, case)
        for spec in ("Task_unit_review", "Task_assessment"):
            task = next(t for t in case["open_tasks"] if t["spec_name"] == spec)
            status, case, _ = c.call(
                "POST",
                f"/api/v1/tasks/{case['case_no']}/{task['task_id']}/complete",
                {"data": FORMS[spec], "version": case["version"]},
            )
            assert status == 200, (status, case)
        assert case["open_tasks"] == [] and case["status"] == "running", case
        return case["case_no"]

    with ThreadPoolExecutor(threads) as ex:
        return list(ex.map(one, range(n)))


def snapshot(d: Deployment) -> dict[str, dict]:
    """case_no → what a timer run would change: version, event count, next timer, open tasks, status."""
    from workflows.domain.models import Case

    s = d.factory()
    try:
        out = {
            c.case_no: {
                "version": c.version,
                "event_seq": c.event_seq,
                "next_timer_at": c.next_timer_at,
                "status": c.status,
                "open": sorted(t.spec_name for t in c.open_tasks),
                "last_hash": c.last_hash,
            }
            for c in s.scalars(select(Case))
        }
        s.commit()
        return out
    finally:
        s.close()


def count_due(d: Deployment, at) -> int:
    from workflows.domain.models import Case

    s = d.factory()
    try:
        n = s.scalar(
            select(func.count())
            .select_from(Case)
            .where(
                Case.next_timer_at.is_not(None),
                Case.next_timer_at <= at,
                Case.error.is_(None),
                Case.status.in_(("running", "on_hold", "returned")),
            )
        )
        s.commit()
        return n
    finally:
        s.close()


def count_events(d: Deployment, action: str) -> int:
    from workflows.domain.models import CaseEvent

    s = d.factory()
    try:
        n = s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.action == action))
        s.commit()
        return n
    finally:
        s.close()
