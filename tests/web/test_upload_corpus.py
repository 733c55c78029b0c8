"""Issue 13, item 9: the upload attack corpus (tests/corpora/uploads.json) through the API, as an applicant uploads
a material to a draft: what is not a PDF, JPEG or PNG by its first bytes is refused (415; empty: 422) and nothing is
stored; a real PDF/JPEG/PNG whatever its name is stored under its sha256 only, its name shown cleaned — no path, no
control or bidi characters, no line breaks, at most 120 characters, the content's extension."""

from __future__ import annotations

import io
import json
import os
import unicodedata
from pathlib import Path

import pytest

from tests.web.test_api import Api
from webapp.uploads import sniff

ITEMS = json.loads((Path(__file__).resolve().parents[1] / "corpora" / "uploads.json").read_text("utf-8"))["items"]


def _stored(app) -> list[str]:
    d = app.config["UPLOAD_DIR"]
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


@pytest.mark.parametrize("item", ITEMS, ids=[i["id"] for i in ITEMS])
def test_upload_attack(api_app, item):
    api = Api(api_app, "zhangwei")
    draft = api.post("/drafts", json_body={"procedure": "green_channel_registration"}).json
    content = item["text"].encode("latin-1")
    before = _stored(api_app)
    r = api.post(f"/drafts/{draft['id']}/materials/resume", data={"file": (io.BytesIO(content), item["filename"])})
    assert r.status_code == item["expect"], (r.status_code, r.get_data(as_text=True)[:300])
    if item["expect"] != 200:
        assert r.json["error"]["message"]
        assert _stored(api_app) == before  # nothing stored
        return
    shown = r.json["files"]["resume"]["file_name"]
    assert shown.endswith(item["shown_as"]) and len(shown) <= 120, shown
    assert not any(ch in shown for ch in "/\\\r\n") and ".." not in shown.rstrip(item["shown_as"]), shown
    assert all(unicodedata.category(ch)[0] != "C" for ch in shown), ascii(shown)
    sha = r.json["files"]["resume"]["sha256"]
    assert _stored(api_app) == sorted({*before, sha})  # stored under its sha256, never under the name
    assert sniff(content[:8]) is not None
