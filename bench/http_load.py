"""Task completion end to end through HTTP (gunicorn, real sockets) vs the services vs raw SpiffWorkflow, and
transitions per second with 1, 2 and 4 gunicorn workers on PostgreSQL (run by hand, not a test):

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/gc_scale .venv/bin/python bench/http_load.py

Needs a database loaded by `flask generate` (it completes generated cases' open steps, so each run uses up some:
about 150 + workers×rate×--seconds per configuration).

1. Latency (one client, one step at a time): `Task_unit_review` of 绿色通道列编注册 cases (complete dossier, own
   establishment path: unit review -> 主管部门审核), each a different generated case:
   * http     — POST /api/v1/tasks/<no>/<task>/complete with a bearer token of the unit's HR officer, to gunicorn
                with 1 sync worker on 127.0.0.1 (new TCP connection per request: sync workers close keep-alive),
                no worker (the PDFs wait in the render queue); timed from request to full response body in the client.
   * services — `workflows.services.cases.complete_task` in this process on the same database (fresh session
                per call, as in bench/engine.py).
   * raw      — bench/engine.py's `bench_raw` (imported): SpiffWorkflow alone restores the same cases' stored state,
                runs the step (task.run + run_until_stable) and serializes the workflow with the library's own
                serializer; restore untimed.
   Ratios are of the medians, raw = 1.
2. Throughput: gunicorn with W sync workers (W = 1, 2, 4), 2×W client threads, each thread owns a disjoint set of
   cases and completes their open 单位审核 / 主管部门审核 / 备案 steps via the API with the bearer token of the
   officer whose desk it is (unit HR, 主管部门 reviewer, 人社厅). Transitions/s = completions in the measured window
   (after a 1 s warm-up) / window. Every response must be 200.
Tokens are made with the same function as `flask create-token USER` (webapp.api.new_token).

Last line, exactly:  `ratio http/services/raw: X/Y/1 transitions/s w1/w2/w4: A/B/C`
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/gc_scale"
FORMS = {
    "Task_unit_review": {"unit_decision": "approve", "unit_opinion": "同意"},
    "Task_dept_review": {"dept_decision": "approve", "dept_opinion": "同意"},
    "Task_filing": {"filing_confirmed": True, "filing_note": "已备案"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    def __init__(self, workers: int, url: str, log_path: str):
        self.port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SWEEP_IN_PROCESS": "",
            "LOG_LEVEL": "WARNING",
        }
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                "--timeout",
                "60",
                "webapp:create_app()",
            ],
            cwd=str(ROOT),
            env=env,
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                status, _ = request("127.0.0.1", self.port, "GET", "/api/v1/ping")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not start (see log)")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


POSTGRES_SHARED = ("walwriter", "checkpointer", "background writer", "autovacuum launcher")


def postgres_pids(database: str) -> list[int]:
    """The server processes working for `database` (backends and autovacuum, by their process titles) and the
    shared writers; other databases' backends (a test run beside the bench) are left out."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/comm") as f:
                    if f.read().strip() != "postgres":
                        continue
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    title = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if f" {database} " in title or any(t in title for t in POSTGRES_SHARED):
                out.append(int(d))
    return out


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class CpuMeter:
    """CPU time spent by the gunicorn processes, the PostgreSQL processes of the bench database and this client process between start()
    and stop(): where the machine's cores go per transition. (A PostgreSQL backend that ends inside the window loses
    its share: the sync workers keep their pooled connections, so the backends live through it.)"""

    def __init__(self, gunicorn_pid: int, database: str):
        self.master, self.database = gunicorn_pid, database

    def _sample(self) -> dict[str, float]:
        workers = [self.master, *children(self.master)]
        return {
            "gunicorn": sum(cpu_seconds(p) for p in workers),
            "postgres": sum(cpu_seconds(p) for p in postgres_pids(self.database)),
            "client": sum(os.times()[:2]),
        }

    def start(self):
        self.t0, self.before = time.perf_counter(), self._sample()

    def stop(self) -> dict[str, float]:
        after = self._sample()
        return {k: after[k] - self.before[k] for k in after} | {"wall": time.perf_counter() - self.t0}


def request(
    host: str, port: int, method: str, path: str, body: dict | None = None, token: str | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def complete_http(port: int, item: tuple) -> int:
    case_no, task_id, spec, token = item
    status, body = request(
        "127.0.0.1", port, "POST", f"/api/v1/tasks/{case_no}/{task_id}/complete", {"data": FORMS[spec]}, token
    )
    if status != 200:
        raise RuntimeError(f"{case_no} {spec}: HTTP {status} {body[:300]!r}")
    return status


def median_ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


def p95_ms(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(0.95 * len(s))) - 1))] * 1000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60, help="timed completions for each latency kind")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured window per worker count")
    ap.add_argument("--workers", default="1,2,4")
    args = ap.parse_args(argv)
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    os.environ["DATABASE_URL"] = url
    log_path = "/tmp/bench_http_gunicorn.log"

    import bench.engine as eng  # the raw SpiffWorkflow measurement
    from webapp import create_app
    from webapp.api import new_token
    from workflows.domain.actors import Actor
    from workflows.domain.models import Case, OpenTask, User
    from workflows.services import cases as svc

    app = create_app()
    factory = app.extensions["db_factory"]
    s = factory()
    users = {u.username: u for u in s.scalars(select(User).where(User.role.in_(("unit_hr", "dept", "hrss"))))}
    hr_of = {u.unit_code: u for u in users.values() if u.role == "unit_hr"}
    dept_of = {u.unit_code: u for u in users.values() if u.role == "dept"}
    rows = list(
        s.execute(
            select(
                OpenTask.task_id,
                OpenTask.spec_name,
                OpenTask.role,
                OpenTask.scope_unit_code,
                OpenTask.assignee_id,
                Case.case_no,
                Case.id,
                Case.start_data,
                Case.status,
            )
            .join(Case, OpenTask.case_id == Case.id)
            .where(
                Case.procedure == "green_channel_registration",
                OpenTask.spec_name.in_(list(FORMS)),
                Case.status == "running",
            )
            .order_by(Case.id)
        )
    )
    tokens: dict[str, str] = {}

    def token_for(user: User) -> str:
        if user.username not in tokens:
            tokens[user.username] = new_token(s, user, "bench/http_load.py")[1]
        return tokens[user.username]

    items = []  # (case_no, task_id, spec, token, simple)
    for r in rows:
        if r.assignee_id is not None:
            continue
        user = (
            hr_of.get(r.scope_unit_code)
            if r.role == "unit_hr"
            else dept_of.get(r.scope_unit_code)
            if r.role == "dept"
            else users.get("renshe")
        )
        if user is None:
            continue
        simple = (
            r.spec_name == "Task_unit_review"
            and not r.start_data.get("outside_establishment")
            and len(r.start_data.get("materials") or []) == 8
        )
        items.append((r.case_no, r.task_id, r.spec_name, token_for(user), simple, user))
    s.commit()
    random.Random(3).shuffle(items)
    simple = [i for i in items if i[4]]
    print(f"candidates: {len(items)} open steps ({len(simple)} simple 单位审核) on {url.rsplit('@', 1)[-1]}")
    need = 3 * args.n
    if len(simple) < need:
        print(f"not enough simple 单位审核 steps ({len(simple)} < {need}); regenerate", file=sys.stderr)
        return 2
    lat_http_items, lat_svc_items, lat_raw_items = (
        simple[: args.n],
        simple[args.n : 2 * args.n],
        simple[2 * args.n : need],
    )
    used = {i[0] for i in simple[:need]}
    pool = [i for i in items if i[0] not in used]

    # ---- 1. latency: raw (states of cases not otherwise touched), services, http
    states = list(s.scalars(select(Case.state).where(Case.case_no.in_([i[0] for i in lat_raw_items]))))
    s.commit()

    class DbShim:  # bench_raw only needs .factory (to read the definition)
        pass

    shim = DbShim()
    shim.factory = factory
    raw = eng.bench_raw(shim, states)
    raw_total = raw["total"]

    svc_t = []
    for case_no, task_id, spec, _tok, _simple, user in lat_svc_items:
        ss = factory()
        try:
            t0 = time.perf_counter()
            svc.complete_task(
                ss,
                case_no,
                task_id,
                FORMS[spec],
                Actor.from_user(user),
            )
            svc_t.append(time.perf_counter() - t0)
        finally:
            ss.close()

    g = Gunicorn(1, url, log_path)
    try:
        for it in pool[:3]:  # warm the worker (imports, spec cache, pool)
            complete_http(g.port, it[:4])
        pool = pool[3:]
        http_t = []
        for it in lat_http_items:
            t0 = time.perf_counter()
            complete_http(g.port, it[:4])
            http_t.append(time.perf_counter() - t0)
    finally:
        g.stop()
    m_raw, m_svc, m_http = median_ms(raw_total), median_ms(svc_t), median_ms(http_t)

    # ---- 2. throughput with W workers, 2W clients
    results = {}
    for w in [int(x) for x in args.workers.split(",")]:
        clients = 2 * w
        # partition by case so no two clients touch the same case
        per = [pool[i::clients] for i in range(clients)]
        g = Gunicorn(w, url, log_path)
        done_at: list[list[float]] = [[] for _ in range(clients)]
        errors: list[str] = []
        stop = threading.Event()
        t_begin = time.perf_counter()
        t_end = t_begin + 1.0 + args.seconds

        def client(k: int):
            for it in per[k]:
                if stop.is_set() or time.perf_counter() > t_end:
                    return
                try:
                    complete_http(g.port, it[:4])
                except Exception as e:  # noqa: BLE001
                    errors.append(str(e)[:300])
                    continue
                done_at[k].append(time.perf_counter())

        meter = CpuMeter(g.proc.pid, url.rsplit("/", 1)[-1].split("?")[0])
        try:
            threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
            for t in threads:
                t.start()
            time.sleep(1.0)  # the warm-up second is outside the CPU window as it is outside the rate window
            meter.start()
            for t in threads:
                t.join()
            cpu = meter.stop()
        finally:
            g.stop()
        lo, hi = t_begin + 1.0, t_end
        stamps = sorted(x for xs in done_at for x in xs)
        in_window = [x for x in stamps if lo <= x <= hi]
        window = min(hi, stamps[-1] if stamps else hi) - lo
        rate = len(in_window) / window if window > 0 else 0.0
        used_now = {it[0] for k in range(clients) for it in per[k][: len(done_at[k])]}
        pool = [it for it in pool if it[0] not in used_now]
        measured = sum(1 for x in stamps if x >= lo)
        results[w] = (
            rate,
            len(stamps),
            len(errors),
            clients,
            {k: v * 1000 / max(measured, 1) for k, v in cpu.items() if k != "wall"},
            cpu["wall"],
        )
        if errors:
            print(f"  w{w}: {len(errors)} errors, first: {errors[0]}", file=sys.stderr)
        # the sync workers do not keep connections; give PostgreSQL a moment between runs
        time.sleep(1)

    print(f"HTTP benchmark — PostgreSQL {url.rsplit('@', 1)[-1]}, gunicorn sync workers, no render worker")
    print(f"  {'ms per completion (one client)':<46} {'n':>4} {'median':>8} {'p95':>8} {'x raw':>7}")
    for label, xs in (
        ("http     POST …/complete via gunicorn -w 1", http_t),
        ("services cases.complete_task", svc_t),
        ("raw      SpiffWorkflow step + serialize_json", raw_total),
    ):
        print(f"  {label:<46} {len(xs):>4} {median_ms(xs):>8.2f} {p95_ms(xs):>8.2f} {median_ms(xs) / m_raw:>7.2f}")
    print(
        f"  {'throughput':<20} {'clients':>8} {'completed':>10} {'errors':>7} {'transitions/s':>14}   "
        f"CPU ms per transition: gunicorn / postgres / client (cores busy)"
    )
    for w, (rate, n, errs, clients, per, _wall) in results.items():
        busy = sum(per.values()) * rate / 1000
        print(
            f"  gunicorn -w {w:<8} {clients:>8} {n:>10} {errs:>7} {rate:>14.1f}   "
            f"{per['gunicorn']:.1f} / {per['postgres']:.1f} / {per['client']:.1f} ({busy:.2f} of {os.cpu_count()})"
        )
    tps = "/".join(f"{results[w][0]:.0f}" for w in results)
    print(f"ratio http/services/raw: {m_http / m_raw:.2f}/{m_svc / m_raw:.2f}/1 transitions/s w1/w2/w4: {tps}")
    s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
