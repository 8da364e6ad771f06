"""The FastAPI application of the forms, mounted by the api-server under /cvp (plugins/cvp_plugin.py).

Every route requires Airflow's login, the OpenAPI document and the static files included: Airflow
leaves plugin routes public, so each router here carries the login dependency, and the default
public /openapi.json and /docs are switched off in favour of authenticated ones.
"""

from __future__ import annotations

import asyncio
import logging

from airflow.api_fastapi.core_api.security import bearer_scheme, get_user
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import get_route_path

from cvp.errors import CvpError
from cvp_airflow.web import api, dashboard, pages, red, waiting_line
from cvp_airflow.web.inputs import ShownJSONResponse, error_detail
from cvp_airflow.web.schemas import error_body
from cvp_airflow.web.security import Viewer, authenticated, current_viewer, is_auth_failure

log = logging.getLogger(__name__)

AUTH_MESSAGES = {
    "Not authenticated": "Inicie sesión en Airflow para usar los formularios de la Oficina Asesora de Comunicaciones.",
    "Token Expired": "Su sesión de Airflow venció: inicie sesión de nuevo.",
    "Invalid JWT token": "La sesión de Airflow no es válida: inicie sesión de nuevo.",
}
HTTP_MESSAGES = {
    400: "La solicitud llegó mal formada (por ejemplo, un formulario con archivo cortado o con un separador "
    "no válido): recargue la página y vuelva a intentarlo.",
    404: "No existe esa página de los formularios.",
    405: "Esa acción no se hace así: use los botones del formulario.",
    413: "La solicitud es demasiado grande.",
    415: "Tipo de contenido no admitido: envíe JSON o el formulario de la página.",
}
HTTP_FALLBACK = "La solicitud no se pudo atender (código {status}): recargue la página y vuelva a intentarlo."
PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; frame-src 'self'; "
    "object-src 'none'; script-src 'self'; style-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'self'"
)


def is_api(request: Request) -> bool:
    return get_route_path(request.scope).startswith("/api/")


class SecurityHeaders:
    """Headers every response of the forms carries; a route's own Content-Security-Policy wins."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                extra = {
                    b"x-content-type-options": b"nosniff",
                    b"referrer-policy": b"same-origin",
                    b"x-frame-options": b"SAMEORIGIN",
                }
                if ctype.startswith(b"text/html"):
                    extra[b"content-security-policy"] = PAGE_CSP.encode()
                if ctype.startswith((b"text/html", b"application/json")):
                    extra[b"cache-control"] = b"no-store"
                headers += [(k, v) for k, v in extra.items() if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _login_url(request: Request) -> str:
    next_url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        from airflow.api_fastapi.app import get_auth_manager

        return get_auth_manager().get_url_login(next_url=next_url)
    except Exception:  # noqa: BLE001 - any auth manager without a login page: Airflow's default
        from urllib.parse import urlencode

        return "/auth/login?" + urlencode({"next": next_url})


async def _page_error(request: Request, status: int, message: str, details: list[str] | None = None):
    return await asyncio.to_thread(pages.error_page, request, status, message, details)


def create_app() -> FastAPI:
    app = FastAPI(
        title="Formularios de Comunicaciones CVP (208-COM-Pr-04)",
        description="Formularios web y API JSON del procedimiento Community Manager de la Oficina Asesora de "
        "Comunicaciones de la Caja de la Vivienda Popular. Misma sesión que Airflow (cookie `_token` "
        "o `Authorization: Bearer`); roles según el archivo del equipo; las escrituras con cookie "
        "llevan el encabezado `X-CSRF-Token` (ver `GET /api/yo`).",
        version="1.0",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(SecurityHeaders)
    app.include_router(api.router)
    # Every JSON route refuses with the same Spanish body (schemas.ErrorOut), and its document says so.
    app.include_router(waiting_line.router, responses=api.ERRORS)
    app.include_router(red.api_router, responses=api.ERRORS)
    app.include_router(red.router)
    app.include_router(dashboard.router)
    app.include_router(pages.router)

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi(viewer: Viewer = Depends(current_viewer)) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/static/{name}", include_in_schema=False, dependencies=[Depends(authenticated)])
    def static(name: str):
        return pages.static_response(name)

    @app.exception_handler(CvpError)
    async def domain_error(request: Request, exc: CvpError):
        if is_api(request):
            return ShownJSONResponse(error_body(exc.message, exc.details, type(exc).__name__), status_code=exc.status)
        return await _page_error(request, exc.status, exc.message, exc.details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        auth = is_auth_failure(exc)
        # Starlette's and FastAPI's own refusals (a malformed multipart body, an unknown route) carry English
        # details: the person reads ours.
        message = (
            AUTH_MESSAGES.get(exc.detail)
            if auth
            else HTTP_MESSAGES.get(exc.status_code, HTTP_FALLBACK.format(status=exc.status_code))
        )
        if is_api(request) or request.url.path.endswith("/openapi.json"):
            code = "NotAuthenticated" if auth else "HTTPError"
            return ShownJSONResponse(
                error_body(message, [], code),
                status_code=exc.status_code,
                headers=getattr(exc, "headers", None),
            )
        if auth:
            return RedirectResponse(_login_url(request), status_code=303)
        return await _page_error(request, exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        # FastAPI reads and validates a JSON body before the login dependency runs: the login answers first.
        try:
            await get_user(request, None, await bearer_scheme(request))
        except StarletteHTTPException as refused:
            return await http_error(request, refused)
        details = [error_detail(e) for e in exc.errors()]
        message = "La solicitud no es válida: revise los campos indicados."
        if is_api(request):
            return ShownJSONResponse(error_body(message, details, "InvalidInput"), status_code=422)
        return await _page_error(request, 422, message, details)

    return app
