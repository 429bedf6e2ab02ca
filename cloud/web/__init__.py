"""The staff dashboard: server-rendered pages (FastAPI + Jinja2), static CSS/JS, no CDN.

`install(app)` adds the routes, the static files and the HTML error pages to the cloud app.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from cloud.web.deps import LoginRequired, PageError, login_redirect_url
from cloud.web.i18n import LANG_COOKIE, pick_lang, translator
from cloud.web.render import HERE, templates
from cloud.web.routes import (
    admin,
    announcements,
    auth,
    board,
    cases,
    deliveries,
    desk,
    household,
    safety,
)

ROUTERS = (auth, desk, cases, board, household, deliveries, announcements, safety, admin)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="dashboard-static")
    for module in ROUTERS:
        app.include_router(module.router, include_in_schema=False)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        if _wants_json(request):
            # Polling scripts: tell the page, which keeps drafts and offers a login link.
            return JSONResponse(
                {"error": "login_required", "login": login_redirect_url(exc)}, status_code=401
            )
        return RedirectResponse(login_redirect_url(exc), status_code=303)

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        lang = pick_lang(request.cookies.get(LANG_COOKIE))
        t = translator(lang)
        if _wants_json(request):
            return JSONResponse(
                {"error": exc.message_key, "detail": t(exc.message_key)}, status_code=exc.status
            )
        return templates.TemplateResponse(
            request,
            "error.html",
            {
                "t": t,
                "lang": lang,
                "user": None,
                "ctx": None,
                "csrf_token": "",
                "message": t(exc.message_key),
                "status": exc.status,
            },
            status_code=exc.status,
        )
