"""Browser tests: the real app served from a thread (SQLite file with the demo data), driven by Playwright with
Debian's Chromium (no browser download; see NOTES-setup).

* `live_server` — a fresh app per test module: database in a temp folder, `flask init-db --demo` through the CLI
  runner, served by `werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)` from a daemon thread.
  Wall time is moved to Monday 2026-03-02 09:00 (Asia/Shanghai) with a *ticking* clock (the server, the browser
  and SpiffWorkflow timers need time to pass), so deadlines on the pages are deterministic dates.
* `make_live_server` — the same as a factory, for a test that needs a server of its own (e.g. one that publishes a
  new process version).
* `browser` — one Chromium per test module; `page` — a new context (zh-CN, 1280×900) per test; console errors and page
  errors are collected on `page.errors`.
* `shot(page, name)` — a full-page screenshot under `test-output/browser/<test>/NN-name.png`.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

SH = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 2, 9, 0, tzinfo=SH)  # a Monday, a working day
ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/lib/chromium/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "lvse-2026"


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives the web app in Chromium through Playwright")


class LiveServer:
    def __init__(self, app, url: str, db_path: Path, upload_dir: Path):
        self.app = app
        self.url = url
        self.db_path = db_path
        self.upload_dir = upload_dir

    def session(self):
        """A database session of the served app (commit or close it promptly: SQLite has one writer)."""
        return self.app.extensions["db_factory"]()


def _start_server(folder: Path):
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):  # the access log would drown the test output
            pass

    from webapp import create_app

    db_path = folder / "browser.sqlite3"
    upload_dir = folder / "uploads"
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{db_path}",
            "TESTING": True,
            "UPLOAD_DIR": str(upload_dir),
            "SECRET_KEY": "browser-tests",
            "SWEEP_IN_PROCESS": False,
        }
    )
    result = app.test_cli_runner().invoke(args=["init-db", "--demo"])
    assert result.exit_code == 0, f"init-db --demo failed:\n{result.output}"
    from webapp.issuing import start_renderer

    start_renderer(app)  # the PDFs are rendered and signed off the request path, as in `make run` (no timer sweep)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    return LiveServer(app, f"http://127.0.0.1:{server.server_port}", db_path, upload_dir), server, thread


@pytest.fixture(scope="module")
def make_live_server(tmp_path_factory):
    """A factory: each call starts another app (own database) and returns its LiveServer."""
    traveller = time_machine.travel(START, tick=True)
    traveller.start()
    started = []

    def make():
        live, server, thread = _start_server(tmp_path_factory.mktemp("live"))
        started.append((live, server, thread))
        return live

    try:
        yield make
    finally:
        from webapp.issuing import stop_renderer

        for live, server, thread in started:
            server.shutdown()
            thread.join(timeout=5)
            stop_renderer(live.app)
            live.app.extensions["db_engine"].dispose()
        traveller.stop()


@pytest.fixture(scope="module")
def live_server(make_live_server):
    return make_live_server()


# Module scope, not session: a running sync Playwright keeps its event loop on the main thread, and another test
# module that starts its own `sync_playwright()` (tests/web/test_admin.py does) would then fail.
@pytest.fixture(scope="module")
def playwright_instance():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        pytest.skip("Playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright_instance):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)")
    b = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
    yield b
    b.close()


def _new_page(browser, **context_args):
    context = browser.new_context(
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        accept_downloads=True,
        **({"viewport": {"width": 1280, "height": 900}} | context_args),
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.errors = []  # console errors and uncaught exceptions, for the tests to assert on

    def on_console(m):
        url = (m.location or {}).get("url", "")
        if m.type == "error" and not url.endswith("/favicon.ico"):  # no favicon is not the page's fault
            page.errors.append(f"console.{m.type}: {m.text} ({url})")

    page.on("console", on_console)
    page.on("pageerror", lambda e: page.errors.append(f"pageerror: {e}"))
    page.bad_responses = []  # (status, url) of every 4xx/5xx the page loaded
    page.on("response", lambda r: page.bad_responses.append((r.status, r.url)) if r.status >= 400 else None)
    page.dialogs = []  # confirm() dialogs are accepted (as a person clicking 确定 would) and recorded
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.accept()))
    return page


@pytest.fixture
def new_page(browser):
    """A factory for extra pages (each in its own context: another user signed in at the same time)."""
    pages = []

    def make(**context_args):
        p = _new_page(browser, **context_args)
        pages.append(p)
        return p

    make.pages = pages  # every page of the test: `[e for p in new_page.pages for e in p.errors]`
    yield make
    for p in pages:
        p.context.close()


@pytest.fixture
def page(new_page):
    return new_page()


def _test_dir(nodeid_name: str) -> Path:
    return OUTPUT / re.sub(r"[^\w.\-]+", "_", nodeid_name).strip("_")


@pytest.fixture
def shot(request):
    """shot(page, name): a full-page screenshot under test-output/browser/<test>/NN-<name>.png (numbered in order)."""
    folder = _test_dir(request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    counter = {"n": 0}

    def take(page, name: str) -> Path:
        counter["n"] += 1
        safe = re.sub(r"[^\w.-]+", "_", name)
        path = folder / f"{counter['n']:02d}-{safe}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    take.folder = folder
    return take


def login(page, live, username: str, password: str = PASSWORD):
    """Sign in through the login form (a fresh context has no session)."""
    page.goto(f"{live.url}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
    assert "/login" not in page.url, f"{username} could not sign in: {page.url}"


def logout(page):
    page.get_by_role("button", name="退出").click()
    page.wait_for_load_state()
