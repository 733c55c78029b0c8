"""The engine core's password hashes are Werkzeug's: every hash stored so far keeps working, both ways."""

from werkzeug.security import check_password_hash, generate_password_hash

from workflows.domain.passwords import check_password, hash_password


def test_a_hash_written_by_the_core_is_checked_by_werkzeug():
    stored = hash_password("lvse-2026-secret")
    assert stored.startswith("scrypt:32768:8:1$")
    assert check_password_hash(stored, "lvse-2026-secret")
    assert not check_password_hash(stored, "lvse-2026-secreT")


def test_hashes_werkzeug_wrote_are_checked_by_the_core():
    for method in ("scrypt", "pbkdf2", "pbkdf2:sha256:1000"):
        stored = generate_password_hash("口令-2026", method=method)
        assert check_password(stored, "口令-2026"), method
        assert not check_password(stored, "口令-2027"), method


def test_a_broken_or_missing_hash_is_a_refusal_not_an_error():
    for stored in (None, "", "plain", "md5$salt$abc", "scrypt:x:y:z$salt$abc"):
        assert check_password(stored, "anything") is False
