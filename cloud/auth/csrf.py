"""CSRF: a per-session synchronizer token, sent back in a form field or an X-CSRF-Token header.

Before login there is no session, so the login form carries a signed random token that must
match the `mimamori_prelogin` cookie (signed double submit).
"""

from __future__ import annotations

import hmac
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer

FORM_FIELD = "csrf_token"
HEADER = "x-csrf-token"
PRELOGIN_COOKIE = "mimamori_prelogin"
PRELOGIN_MAX_AGE_S = 2 * 3600


def new_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="mimamori-login-csrf")


def sign_prelogin(secret_key: str, nonce: str) -> str:
    return _serializer(secret_key).dumps(nonce)


def check_prelogin(secret_key: str, cookie_nonce: str | None, form_token: str | None) -> bool:
    if not cookie_nonce or not form_token:
        return False
    try:
        nonce = _serializer(secret_key).loads(form_token, max_age=PRELOGIN_MAX_AGE_S)
    except BadSignature:
        return False
    return tokens_match(cookie_nonce, str(nonce))
