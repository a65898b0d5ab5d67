"""JSON bodies without non-finite numbers, and validation errors that always serialise.

Python's :func:`json.loads` accepts ``NaN``, ``Infinity`` and ``-Infinity`` and turns ``1e999``
into ``inf``; none of them is JSON (RFC 8259), none is a meaningful value anywhere in the API, and
an error echoing one cannot itself be written as JSON. :class:`StrictJSONRoute` parses bodies
refusing them (FastAPI answers such a body 422, like any malformed JSON), and
:func:`validation_error_content` makes the 422 body of any validation error JSON-safe.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Coroutine

from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def strict_loads(data: bytes | str) -> Any:
    """:func:`json.loads` refusing ``NaN``, ``Infinity`` and numbers that overflow a float.

    Raises:
        json.JSONDecodeError: for those as for any malformed JSON.
    """
    try:
        return json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # from the hooks above, or an integer too long to convert
        doc = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        raise json.JSONDecodeError(str(exc), doc, 0) from exc


class StrictJSONRequest(Request):
    """A request whose :meth:`json` is :func:`strict_loads`."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """An API route parsing its JSON body with :class:`StrictJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its name (``"nan"``, ``"inf"``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def validation_error_content(errors: Any) -> dict[str, Any]:
    """The 422 body of a validation error: ``{"detail": [...]}``, always serialisable."""
    return {"detail": json_safe(jsonable_encoder(errors))}
