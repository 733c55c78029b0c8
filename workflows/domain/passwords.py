"""Password hashes in Werkzeug's format ("scrypt:N:r:p$salt$hex", "pbkdf2:sha256:N$salt$hex"), computed with hashlib.

The engine core imports no Werkzeug, yet every hash the project ever stored (login form, administrators' forms, the
bulk import, `flask create-user`) was written in that format: this module writes and checks the same strings, so
hashes written here are checked by the web layer's old code and the other way round (tests/test_passwords.py proves
it against Werkzeug itself).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

_SALT_CHARS = string.ascii_letters + string.digits
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
PBKDF2_ITERATIONS = 1_000_000


def _derive(method: str, salt: str, password: str) -> tuple[str, str]:
    name, *args = method.split(":")
    if name == "scrypt":
        n, r, p = (int(a) for a in args) if args else (SCRYPT_N, SCRYPT_R, SCRYPT_P)
        digest = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p)
        return digest.hex(), f"scrypt:{n}:{r}:{p}"
    if name == "pbkdf2":
        hash_name = args[0] if args else "sha256"
        iterations = int(args[1]) if len(args) > 1 else PBKDF2_ITERATIONS
        digest = hashlib.pbkdf2_hmac(hash_name, password.encode(), salt.encode(), iterations)
        return digest.hex(), f"pbkdf2:{hash_name}:{iterations}"
    raise ValueError(f"unknown password hash method {name!r}")


def hash_password(password: str, method: str = "scrypt") -> str:
    salt = "".join(secrets.choice(_SALT_CHARS) for _ in range(16))
    digest, actual = _derive(method, salt, password)
    return f"{actual}${salt}${digest}"


def check_password(stored: str | None, password: str) -> bool:
    """False for a missing or malformed hash, never an exception (a broken row must not open a 500 at the login)."""
    try:
        method, salt, digest = (stored or "").split("$", 2)
        return hmac.compare_digest(_derive(method, salt, password)[0], digest)
    except (ValueError, TypeError):
        return False
