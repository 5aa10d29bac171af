"""Contract checking shared by every suite: a transport that validates each request our clients send and each
response a sandbox returns against the official OpenAPI specs (openapi-core), wherever the sandbox is mounted.

A vendor module supplies ``mapper(request) -> (spec name, SpecRequest) | None`` (None: not an API call, e.g. an
OAuth token endpoint the spec does not describe) and the loaded specs.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

import attrs
import httpx
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import PathNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from werkzeug.datastructures import Headers, ImmutableMultiDict


@attrs.define
class SpecRequest:
    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    content_type: str
    body: bytes | None


@attrs.define
class SpecResponse:
    status_code: int
    content_type: str
    headers: Any
    data: bytes | None


def spec_request(request: httpx.Request, *, host_url: str, path: str, extra_headers: list[tuple[str, str]] = ()) -> SpecRequest:
    """The openapi-core view of an httpx request, re-rooted at the spec's server and path."""
    query = ImmutableMultiDict(parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True))
    params = RequestParameters(query=query, header=Headers(list(request.headers.items()) + list(extra_headers)),
                               cookie=ImmutableMultiDict())
    return SpecRequest(host_url, path, request.method.lower(), params, request.headers.get("content-type", ""),
                       request.content or None)


Mapper = Callable[[httpx.Request], "tuple[str, SpecRequest] | None"]


class ValidatingTransport(httpx.AsyncBaseTransport):
    """Checks every exchange against the specs. Problems are collected in ``problems`` (fixtures fail the test on
    any); ``log`` keeps (request, response, note) for assertions; ``fail_transport`` raises the given errors
    (once each) before the request reaches the sandbox."""

    def __init__(self, inner: httpx.AsyncBaseTransport, specs: dict[str, OpenAPI], mapper: Mapper) -> None:
        self.inner = inner
        self.specs = specs
        self.mapper = mapper
        self.problems: list[str] = []
        self.log: list[tuple[httpx.Request, httpx.Response, str]] = []
        self.fail_transport: list[Exception] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        if self.fail_transport:
            raise self.fail_transport.pop(0)
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self.log.append((request, response, self.validate(request, response)))
        return response

    def validate(self, request: httpx.Request, response: httpx.Response) -> str:
        mapped = self.mapper(request)
        if mapped is None:
            return "not an API call"
        name, spec_req = mapped
        openapi = self.specs[name]
        where = f"{request.method} {request.url.path}"
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Unsupported scheme type")  # openapi-core skips OAuth2
            try:
                openapi.validate_request(spec_req)
            except PathNotFound:
                self.problems.append(f"{where}: no such path in the {name} spec")
            except Exception as exc:  # openapi-core raises a family of validation errors
                self.problems.append(f"request {where}: {exc!r} {getattr(exc, '__cause__', '')!r}")
            spec_resp = SpecResponse(response.status_code, response.headers.get("content-type", ""),
                                     Headers(list(response.headers.items())), response.content)
            try:
                openapi.validate_response(spec_req, spec_resp)
                return "validated"
            except ResponseNotFound:
                return "status not documented"  # e.g. 401/404/429/5xx where the spec documents only 200 and 400
            except PathNotFound:
                return "path not in spec"
            except Exception as exc:
                cause = exc.__cause__
                self.problems.append(f"response {where} {response.status_code}: {exc!r} {getattr(cause, 'schema_errors', cause)!r}")
        return "invalid"

    def api_calls(self, method: str | None = None, contains: str = "") -> list[httpx.Request]:
        return [req for req, _, note in self.log if note != "not an API call" and (method is None or req.method == method)
                and contains in req.url.path]
