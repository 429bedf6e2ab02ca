"""Per-request context for dashboard pages: database session, signed-in user, scope, CSRF,
language; and the page errors (login needed, 403, 404) rendered as HTML."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.routing import Match

from cloud.api.deps import state
from cloud.auth import csrf, sessions
from cloud.auth.roles import Capability, Role, Scope, can
from cloud.auth.settings import AuthSettings, get_auth_settings
from cloud.models.staff import StaffSession, StaffUser
from cloud.web.i18n import LANG_COOKIE, pick_lang, translator

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class PageError(Exception):
    def __init__(self, status: int, message_key: str) -> None:
        super().__init__(message_key)
        self.status = status
        self.message_key = message_key


class LoginRequired(Exception):
    def __init__(self, next_url: str, expired: bool) -> None:
        super().__init__(next_url)
        self.next_url = next_url
        self.expired = expired


def not_found() -> PageError:
    return PageError(404, "err_not_found")


@dataclass
class Ctx:
    request: Request
    db: Session
    now: datetime
    lang: str
    t: Callable[[str], str]
    auth: AuthSettings
    form: dict[str, str] = field(default_factory=dict)
    user: StaffUser | None = None
    record: StaffSession | None = None

    @property
    def scope(self) -> Scope:
        assert self.user is not None
        return Scope(Role(self.user.role), self.user.office_id, self.user.municipality_id)

    @property
    def csrf_token(self) -> str:
        return self.record.csrf_token if self.record else ""

    @property
    def ip(self) -> str:
        client = self.request.client
        return client.host if client else "-"

    def form_list(self, key: str) -> list[str]:
        return list(getattr(self.request.state, "form_lists", {}).get(key, []))

    def can(self, capability: Capability) -> bool:
        return self.user is not None and can(self.user.role, capability)

    def template_vars(self, **extra: Any) -> dict[str, Any]:
        return {
            "ctx": self,
            "t": self.t,
            "lang": self.lang,
            "user": self.user,
            "csrf_token": self.csrf_token,
            "Capability": Capability,
            **extra,
        }


async def form_data(request: Request) -> dict[str, str]:
    """The submitted form (string fields only), parsed once before the sync handler runs."""
    if request.method not in UNSAFE_METHODS:
        return {}
    content_type = request.headers.get("content-type", "")
    if "form" not in content_type:
        return {}
    form = await request.form()
    # Repeated fields (household checkboxes) stay available as lists.
    request.state.form_lists = {
        key: [v for v in form.getlist(key) if isinstance(v, str)] for key in form
    }
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _base_ctx(request: Request, db: Session, form: dict[str, str]) -> Ctx:
    lang = pick_lang(request.cookies.get(LANG_COOKIE))
    return Ctx(
        request=request,
        db=db,
        now=state(request).clock(),
        lang=lang,
        t=translator(lang),
        auth=get_auth_settings(),
        form=form,
    )


def anonymous_ctx(request: Request, form: dict[str, str] = Depends(form_data)) -> Iterator[Ctx]:
    with state(request).sessions() as db, db.begin():
        yield _base_ctx(request, db, form)


def _gettable(request: Request, path: str) -> bool:
    probe = {"type": "http", "path": path, "method": "GET", "root_path": ""}
    return any(route.matches(probe)[0] == Match.FULL for route in request.app.routes)


def _next_url(request: Request) -> str:
    if request.method in UNSAFE_METHODS:
        # After login, return to the page the form was on (a form re-shown with errors sits
        # at a POST-only URL: then the desk).
        referer = urlsplit(request.headers.get("referer", ""))
        same_site = referer.netloc == request.url.netloc
        if same_site and referer.path and _gettable(request, referer.path):
            return referer.path + (f"?{referer.query}" if referer.query else "")
        return "/"
    query = f"?{request.url.query}" if request.url.query else ""
    return request.url.path + query


def require(capability: Capability) -> Callable[..., Iterator[Ctx]]:
    """Dependency: a signed-in user with this capability; unsafe methods also need CSRF."""

    def dependency(request: Request, form: dict[str, str] = Depends(form_data)) -> Iterator[Ctx]:
        with state(request).sessions() as db, db.begin():
            ctx = _base_ctx(request, db, form)
            token = request.cookies.get(sessions.COOKIE)
            active = sessions.lookup(db, token, ctx.now, ctx.auth)
            if active is None:
                raise LoginRequired(_next_url(request), expired=token is not None)
            ctx.user, ctx.record = active.user, active.record
            if request.method in UNSAFE_METHODS:
                given = form.get(csrf.FORM_FIELD) or request.headers.get(csrf.HEADER)
                if not csrf.tokens_match(active.record.csrf_token, given):
                    raise PageError(403, "err_csrf")
            if not ctx.can(capability):
                raise PageError(403, "err_forbidden")
            yield ctx

    return dependency


def login_redirect_url(exc: LoginRequired) -> str:
    suffix = "&expired=1" if exc.expired else ""
    return f"/login?next={quote(exc.next_url, safe='')}{suffix}"


def needs(capability: Capability) -> Any:
    """`ctx: Ctx = needs(Capability.X)`. scope="function" commits the transaction when the
    handler returns, before the response leaves: a redirect never outruns its own write."""
    return Depends(require(capability), scope="function")
