"""Issue 13, item 9: schemathesis against /api/v1/openapi.json, in the default run (and so in CI).

Every operation of the OpenAPI document is called with generated requests — valid ones and ones that break the
schema — once with an officer's token (renshe, 人社) and once with an applicant's (zhangwei), on a copy of the demo
database through the WSGI app (no server, no network). The checks: no server error, status codes, content types
and response headers as documented (a 405 names what is allowed), bodies that conform to their schema, and data
that breaks the schema rejected. The accepting-valid-data check is left out: a schema-valid application can still
be refused by the rules (422).

Bounded: MAX_EXAMPLES per operation (5 once BUDGET_SECONDS have passed), derandomized (the same requests on every
run), no shrinking: about 2,300 requests per backend, 25–90 s each on this project's 2-core machines. With
TEST_DATABASE_URL it runs on PostgreSQL too (the demo loaded there), where the server's own errors would show.
The figures are written to test-output/api-fuzz.txt.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import schemathesis
import time_machine
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from sqlalchemy import select, text, update

from tests.conftest import PG_URL, _pg_available, require_postgres
from tests.web.conftest import DEMO_INSTANT
from webapp import api as api_module
from webapp import create_app
from workflows.domain.models import ApiToken, User
from workflows.infra.db import make_engine, transaction
from workflows.services.definitions import forget_cached_definitions

ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = 40
BUDGET_SECONDS = 75  # per backend; past this (a loaded machine) the remaining operations get 5 examples each
WHO = ("renshe", "zhangwei")  # an officer with the whole region in scope, and an applicant
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    missing_required_header,
    unsupported_method,
]
STATS: dict[str, dict] = {}  # backend → requests, started, statuses
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _database(backend: str, folder: Path, template: Path) -> str:
    """A copy of the demo database: the SQLite template's file, or the demo loaded into the PostgreSQL test
    database (emptied first) under the demo's clock — the server's own errors (NUL in text, integer overflow) only
    show there."""
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            src = template.parent / (template.name + suffix)
            if src.exists():
                shutil.copy(src, folder / ("fuzz.sqlite3" + suffix))
        return f"sqlite:///{folder / 'fuzz.sqlite3'}"
    require_postgres(_pg_available())
    engine = make_engine(PG_URL)
    with engine.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    forget_cached_definitions()
    with time_machine.travel(DEMO_INSTANT, tick=False):
        app = create_app({"DATABASE_URL": PG_URL, "TESTING": True, "UPLOAD_DIR": str(folder / "up")})
        result = app.test_cli_runner().invoke(args=["init-db", "--demo"])
        app.extensions["db_engine"].dispose()
    assert result.exit_code == 0, result.output
    return PG_URL


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_app(request, tmp_path_factory, demo_db_template):
    backend = request.param
    folder = tmp_path_factory.mktemp(f"api-fuzz-{backend}")
    url = _database(backend, folder, demo_db_template)
    traveller = time_machine.travel(DEMO_INSTANT, tick=True)  # the demo's legal calendar and deadlines
    traveller.start()
    app = create_app(
        {
            "DATABASE_URL": url,
            "TESTING": True,
            "WTF_CSRF_ENABLED": True,
            "UPLOAD_DIR": str(folder / "up"),
        }
    )
    s = app.extensions["db_factory"]()
    tokens = {}
    for i, username in enumerate(WHO):
        row, tokens[username] = api_module.new_token(s, s.scalar(select(User).where(User.username == username)), "fuzz")
        # moved far from the small numbers and the bounds the fuzzer tries on DELETE /auth/tokens/{token_id}
        with transaction(s):
            s.execute(update(ApiToken).where(ApiToken.id == row.id).values(id=1_987_654_321 + i))
    s.close()
    app.config["FUZZ_TOKENS"] = tokens
    stats = STATS[backend] = {"requests": 0, "started": time.monotonic(), "statuses": {}}
    app.config["FUZZ_STATS"] = stats
    yield app
    elapsed = time.monotonic() - stats["started"]
    out = ROOT / "test-output"
    out.mkdir(exist_ok=True)
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(stats["statuses"].items()))
    with open(out / "api-fuzz.txt", "a", encoding="utf-8") as f:
        f.write(
            f"{backend}: schemathesis {schemathesis.SCHEMATHESIS_VERSION}: {stats['requests']} requests in "
            f"{elapsed:.1f} s ({MAX_EXAMPLES} examples per operation, tokens: {', '.join(WHO)}); statuses: {statuses}\n"
        )
    traveller.stop()
    app.extensions["db_session"].remove()
    app.extensions["db_engine"].dispose()


def _fuzz_operation(operation, app) -> list[str]:
    """Generated requests for one operation, each sent with both tokens; the failures schemathesis reports."""
    tokens = app.config["FUZZ_TOKENS"]

    stats = app.config["FUZZ_STATS"]
    over_budget = time.monotonic() - stats["started"] > BUDGET_SECONDS

    @settings(
        max_examples=5 if over_budget else MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in GenerationMode)))
    def run(case):
        for username in WHO:
            response = case.call_and_validate(headers={"Authorization": f"Bearer {tokens[username]}"}, checks=CHECKS)
            stats["requests"] += 1
            stats["statuses"][response.status_code] = stats["statuses"].get(response.status_code, 0) + 1

    try:
        run()
    except (Exception, BaseExceptionGroup) as e:  # schemathesis groups what it found for the operation
        return [f"{operation.label}: {e}"]
    return []


def test_api_conforms_to_its_openapi_document(fuzz_app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operations += 1
        failures += _fuzz_operation(result.ok(), fuzz_app)
    assert operations >= 30
    assert not failures, "\n\n".join(failures)
