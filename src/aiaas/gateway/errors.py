"""Every error leaves the API as RFC 9457 ``application/problem+json``.

The body always has ``type``, ``title``, ``status``, ``detail``, a stable ``code``, the
``instance`` (request path) and the ``request_id``. Validation errors add an ``errors`` list that
points at each offending field without echoing its input. Unhandled exceptions are logged with
their traceback and answered with a generic 500 that leaks nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from aiaas.kit.context import current_context
from aiaas.kit.errors import (
    PROBLEM_BASE,
    PROBLEM_JSON,
    AppError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)

_log = structlog.get_logger("aiaas.errors")

INTERNAL_ERROR_CODE = "internal_error"
INTERNAL_ERROR_DETAIL = "An unexpected error occurred. Quote the request id when reporting it."

# HTTP statuses raised by the framework (router 404/405, body limits, ...) -> stable codes.
_HTTP_STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    410: "gone",
    411: "length_required",
    412: "precondition_failed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "validation_failed",
    428: "precondition_required",
    429: "rate_limited",
    431: "request_header_fields_too_large",
    500: INTERNAL_ERROR_CODE,
    501: "not_implemented",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}
# Same code, same title, whether the domain or the framework raised it.
_TITLES: dict[str, str] = {
    cls.code: cls.title
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        RateLimited,
        ServiceUnavailable,
        ValidationFailed,
        AppError,
    )
}
_MAX_LISTED_ERRORS = 3


class ProblemResponse(JSONResponse):
    """A JSON response with the ``application/problem+json`` media type."""

    media_type = PROBLEM_JSON


def _title_for(status: int, code: str) -> str:
    title = _TITLES.get(code)
    if title is not None:
        return title
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "Error"
    return phrase[:1] + phrase[1:].lower()


def code_for_status(status: int) -> str:
    """The stable error code for an HTTP status raised outside the domain errors."""
    return _HTTP_STATUS_CODES.get(status) or ("client_error" if status < 500 else "server_error")


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    title: str | None = None,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ProblemResponse:
    """Build a problem+json response; ``request_id`` defaults to the current request's."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code.replace("_", "-"),
        "title": title or _title_for(status, code),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    request_id = request_id or current_context().request_id
    if request_id:
        body["request_id"] = request_id
    if extra:
        body.update(extra)
    return ProblemResponse(body, status_code=status, headers=dict(headers) if headers else None)


def app_error_response(exc: AppError, instance: str | None) -> ProblemResponse:
    """Render a domain error with its own status, code, headers and extension members."""
    body = exc.problem(instance=instance, request_id=current_context().request_id)
    return ProblemResponse(body, status_code=exc.status, headers=exc.headers or None)


def internal_error_response(scope: Scope, exc: BaseException) -> ProblemResponse:
    """Log an unhandled exception with its traceback and answer a 500 that reveals nothing."""
    _log.error(
        "unhandled_exception",
        method=scope.get("method"),
        path=scope.get("path"),
        error_type=type(exc).__name__,
        exc_info=exc,
    )
    return problem_response(
        500, INTERNAL_ERROR_CODE, INTERNAL_ERROR_DETAIL, instance=scope.get("path")
    )


def _dotted(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


def validation_problem(errors: Sequence[Any], instance: str | None) -> ProblemResponse:
    """422 with an ``errors`` list of ``{loc, msg, type}``; inputs and contexts are dropped.

    The offending values never appear: a rejected password or token stays out of the
    response (and so out of any log or proxy that records it).
    """
    items = [
        {
            "loc": list(error.get("loc", ())),
            "msg": str(error.get("msg", "")),
            "type": error.get("type", ""),
        }
        for error in errors
    ]
    listed = "; ".join(
        f"{_dotted(item['loc'])}: {item['msg']}" for item in items[:_MAX_LISTED_ERRORS]
    )
    more = len(items) - _MAX_LISTED_ERRORS
    detail = f"{len(items)} invalid field{'s' if len(items) != 1 else ''}: {listed}"
    if more > 0:
        detail += f" (and {more} more)"
    return problem_response(
        422, ValidationFailed.code, detail, instance=instance, extra={"errors": items}
    )


def _http_detail(exc: HTTPException, scope: Scope, code: str) -> str:
    detail = exc.detail
    try:
        default: str | None = HTTPStatus(exc.status_code).phrase
    except ValueError:
        default = None
    if isinstance(detail, str) and detail and detail != default:
        return detail
    path = scope.get("path", "")
    if code == "not_found":
        return f"Nothing is served at {path}."
    if code == "method_not_allowed":
        return f"{scope.get('method', '')} is not allowed on {path}."
    if code == "payload_too_large":
        return "The request body is larger than this endpoint accepts."
    return default or "Error"


# ---- handlers -------------------------------------------------------------------------------
async def _app_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    if exc.status == 500:
        # A domain error with status 500 is a bug on our side: log it, reveal nothing.
        return internal_error_response(request.scope, exc)
    if exc.status > 500:
        _log.warning("server_error", code=exc.code, status=exc.status, detail=exc.detail)
    return app_error_response(exc, request.scope.get("path"))


async def _validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return validation_problem(exc.errors(), request.scope.get("path"))


async def _http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status < 400 or status in (204, 304):
        # A non-error status raised as an exception (a redirect, for instance) keeps its form.
        return Response(status_code=status, headers=exc.headers)
    code = code_for_status(status)
    extra = None if isinstance(exc.detail, str) or exc.detail is None else {"data": exc.detail}
    return problem_response(
        status,
        code,
        _http_detail(exc, request.scope, code),
        instance=request.scope.get("path"),
        headers=exc.headers,
        extra=extra,
    )


async def _unhandled_exception_handler(request: Request, exc: Exception) -> Response:
    return internal_error_response(request.scope, exc)


def install_error_handlers(app: FastAPI) -> None:
    """Render every error of ``app`` as problem+json (domain, validation, HTTP, unhandled)."""
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(HTTPException, _http_exception_handler)
    app.add_exception_handler(Exception, _unhandled_exception_handler)
