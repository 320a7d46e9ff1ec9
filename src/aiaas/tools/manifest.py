"""Tool manifests: what a tool takes and returns, and how to call it over HTTP.

The URL's scheme and host are fixed by the manifest; arguments only fill ``{placeholders}`` of the
path (percent-encoded, so a value can never change the host or add a path segment). Headers may
reference secrets (``{secret:name}``), never arguments.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiaas.tools.errors import ToolManifestInvalid

TOOL_NAME = r"^[a-z][a-z0-9_]{0,63}$"
SEMVER = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
SECRET_REF = re.compile(r"\{secret:([A-Za-z0-9_.-]{1,64})\}")
HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")
FORBIDDEN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpCall(_Strict):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str = Field(
        min_length=8,
        max_length=2_000,
        description="URL template, e.g. https://api.example.com/orders/{order_id}",
    )
    headers: dict[str, str] = Field(default_factory=dict, max_length=30)
    ok_statuses: list[int] = Field(
        default_factory=list, description="Non-2xx statuses whose JSON body is a result (e.g. 404)"
    )


class Compensation(_Strict):
    """The tool that undoes this one in a saga, with its arguments taken from this call."""

    tool: str = Field(pattern=TOOL_NAME)
    args: dict[str, str] = Field(
        default_factory=dict, description="name -> `result.<field>` or `args.<field>`"
    )


class ToolManifest(_Strict):
    name: str = Field(pattern=TOOL_NAME)
    version: str = Field(pattern=SEMVER, max_length=64)
    description: str = Field("", max_length=2_000)
    kind: Literal["http", "builtin"] = "http"
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    output_schema: dict[str, Any] | None = None
    http: HttpCall | None = None
    timeout_seconds: float | None = Field(None, gt=0, le=600)
    retries: int = Field(0, ge=0, le=10, description="Retries after the first attempt")
    idempotent: bool = False
    side_effect: bool = False
    compensation: Compensation | None = None

    def semver(self) -> tuple[int, int, int, int, str]:
        """A sort key: releases after pre-releases of the same version."""
        core, _, pre = self.version.split("+", 1)[0].partition("-")
        major, minor, patch = (int(p) for p in core.split("."))
        return (major, minor, patch, 0 if pre else 1, pre)


def parse_manifest(data: Any, *, allow_builtin: bool = False) -> ToolManifest:
    """A checked manifest; :class:`ToolManifestInvalid` lists every problem with its path."""
    try:
        manifest = ToolManifest.model_validate(data)
    except ValidationError as exc:
        raise ToolManifestInvalid(
            [
                {"path": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
                for err in exc.errors()
            ]
        ) from None
    issues = manifest_issues(manifest, allow_builtin=allow_builtin)
    if issues:
        raise ToolManifestInvalid(issues)
    return manifest


def manifest_issues(manifest: ToolManifest, *, allow_builtin: bool = False) -> list[dict[str, Any]]:
    issues: list[dict[str, Any]] = []

    def add(path: str, message: str) -> None:
        issues.append({"path": path, "message": message})

    for field in ("input_schema", "output_schema"):
        schema = getattr(manifest, field)
        if schema is None:
            continue
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            where = ".".join(str(p) for p in exc.path)
            add(f"{field}{'.' + where if where else ''}", exc.message)
    if manifest.input_schema.get("type", "object") != "object":
        add("input_schema.type", "the input of a tool is an object")
    properties = set((manifest.input_schema.get("properties") or {}).keys())
    if manifest.kind == "builtin":
        if not allow_builtin:
            add("kind", "built-in tools are provided by the platform and cannot be registered")
        return issues
    if manifest.http is None:
        add("http", "an http tool needs http: {method, url}")
        return issues
    url = manifest.http.url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        add("http.url", "the URL must start with http:// or https://")
    if not parts.netloc or "{" in parts.netloc or "}" in parts.netloc:
        add("http.url", "the host must be written out; placeholders may only fill the path")
    if "{" in parts.query or "{" in parts.fragment or parts.fragment:
        add("http.url", "placeholders may only fill the path (arguments of GET go to the query)")
    if "@" in parts.netloc:
        add("http.url", "credentials in the URL are not allowed; use a header with a secret")
    for name in PLACEHOLDER.findall(parts.path):
        if name not in properties:
            add("http.url", f"placeholder {{{name}}} is not a property of input_schema")
        elif name not in (manifest.input_schema.get("required") or []):
            add("http.url", f"placeholder {{{name}}} must be a required input")
    leftover = PLACEHOLDER.sub("", parts.path)
    if "{" in leftover or "}" in leftover:
        add("http.url", "malformed placeholder (use {lower_snake_name})")
    for header, value in manifest.http.headers.items():
        if not HEADER_NAME.match(header) or header.lower() in FORBIDDEN_HEADERS:
            add(f"http.headers.{header}", "not an allowed header name")
        rest = SECRET_REF.sub("", value)
        if "{" in rest or "}" in rest:
            add(f"http.headers.{header}", "headers may only reference secrets: {secret:name}")
        if "\n" in value or "\r" in value:
            add(f"http.headers.{header}", "header values are one line")
    for status in manifest.http.ok_statuses:
        if not 200 <= status <= 499:
            add("http.ok_statuses", f"{status} is not a 2xx-4xx status")
    if manifest.compensation is not None:
        if not manifest.side_effect:
            add("compensation", "only a tool with side effects needs a compensating tool")
        for arg, ref in manifest.compensation.args.items():
            if not re.match(r"^(result|args)(\.[A-Za-z0-9_]+)+$", ref):
                add(f"compensation.args.{arg}", "use result.<field> or args.<field>")
    return issues
