"""Sign in, sign out, password change and the language switch."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from cloud.api.deps import state
from cloud.auth import csrf, sessions, users
from cloud.auth.roles import Capability
from cloud.web import audit
from cloud.web.deps import Ctx, anonymous_ctx, needs
from cloud.web.i18n import LANG_COOKIE, LANGS
from cloud.web.render import page
from cloud.web.route_helpers import record_action

router = APIRouter()


def safe_next(value: str | None) -> str:
    """Only same-site paths: an open redirect after login would be a phishing aid."""
    if not value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return "/"
    return value


def cookie_secure(ctx: Ctx) -> bool:
    if ctx.auth.cookie_secure is not None:
        return ctx.auth.cookie_secure
    base = state(ctx.request).settings.base_url
    return base.startswith("https://") or ctx.request.url.scheme == "https"


def _set_private_cookie(ctx: Ctx, response: Response, name: str, value: str, max_age: int) -> None:
    """Session and pre-login tokens: never readable by scripts, HTTPS-only where served so."""
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, secure=cookie_secure(ctx), samesite="lax"
    )


def _login_page(ctx: Ctx, error: str | None, email: str = "", status: int = 200) -> Response:
    nonce = secrets.token_urlsafe(16)
    secret = state(ctx.request).settings.secret_key
    response = page(
        ctx,
        "login.html",
        status=status,
        error=error,
        email=email,
        login_token=csrf.sign_prelogin(secret, nonce),
        next_url=safe_next(ctx.request.query_params.get("next") or ctx.form.get("next")),
        expired=ctx.request.query_params.get("expired") == "1",
    )
    _set_private_cookie(ctx, response, csrf.PRELOGIN_COOKIE, nonce, csrf.PRELOGIN_MAX_AGE_S)
    return response


@router.get("/login")
def login_form(ctx: Ctx = Depends(anonymous_ctx, scope="function")) -> Response:
    return _login_page(ctx, None)


@router.post("/login")
def login(request: Request, ctx: Ctx = Depends(anonymous_ctx, scope="function")) -> Response:
    email = ctx.form.get("email", "")
    secret = state(request).settings.secret_key
    if not csrf.check_prelogin(
        secret, request.cookies.get(csrf.PRELOGIN_COOKIE), ctx.form.get(csrf.FORM_FIELD)
    ):
        return _login_page(ctx, "err_csrf", email, status=403)
    result = users.authenticate(
        ctx.db, email, ctx.form.get("password", ""), ctx.ip, ctx.now, ctx.auth
    )
    if result.user is None:
        audit.record(
            ctx.db,
            None,
            "login.failed",
            ctx.now,
            ip=ctx.ip,
            email=users.normalise_email(email),
            detail={"reason": result.error},
        )
        status = 429 if result.error in ("locked", "too_many_attempts") else 401
        return _login_page(ctx, f"err_{result.error}", email, status=status)
    token = sessions.start(ctx.db, result.user, ctx.now, ctx.auth)
    audit.record(ctx.db, result.user, "login", ctx.now, ip=ctx.ip)
    response = RedirectResponse(safe_next(ctx.form.get("next")), status_code=303)
    _set_private_cookie(ctx, response, sessions.COOKIE, token, ctx.auth.session_max_s)
    response.delete_cookie(csrf.PRELOGIN_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, ctx: Ctx = needs(Capability.DESK)) -> Response:
    sessions.end(ctx.db, request.cookies.get(sessions.COOKIE))
    record_action(ctx, "logout")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.COOKIE)
    return response


@router.get("/password")
def password_form(ctx: Ctx = needs(Capability.DESK)) -> Response:
    return page(ctx, "password.html", errors={}, done=False)


@router.post("/password")
def password_change(request: Request, ctx: Ctx = needs(Capability.DESK)) -> Response:
    assert ctx.user is not None
    try:
        users.change_password(
            ctx.db,
            ctx.user,
            ctx.form.get("current", ""),
            ctx.form.get("new", ""),
            ctx.form.get("confirm", ""),
            ctx.now,
            ctx.auth,
        )
    except users.UserError as exc:
        field = "current" if exc.code == "current_password_wrong" else "new"
        return page(ctx, "password.html", status=422, errors={field: f"err_{exc.code}"}, done=False)
    sessions.end_all_for(ctx.db, ctx.user.id, keep_token=request.cookies.get(sessions.COOKIE))
    record_action(ctx, "admin.password_change", target_type="user", target_id=ctx.user.id)
    return page(ctx, "password.html", errors={}, done=True)


@router.get("/lang/{lang}")
def switch_language(lang: str, request: Request) -> Response:
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    if lang in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax")
    return response
