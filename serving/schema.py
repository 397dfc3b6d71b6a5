"""The HTTP request/response schema shared by the replica and the router (DESIGN.md contract 3).

Both servers validate ``POST /v1/recommend`` bodies with :func:`parse_recommend`, so a
request the router accepts is one every replica accepts, and both reject bad input
with the same 4xx status and JSON error body::

    {"error": "<short code>", "detail": "<what was wrong>", "errors": [...]?}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

MAX_K = 500
DEFAULT_K = 10
MAX_HISTORY = 500
MAX_EXCLUDE = 500
MAX_ID_LENGTH = 256
MAX_BODY_BYTES = 64 * 1024
JSON_CONTENT_TYPE = "application/json"

ItemId = Annotated[StrictStr, Field(min_length=1, max_length=MAX_ID_LENGTH)]
AnswerSource = Literal["user", "history", "popular"]  # where an answer's items came from
ModelLoadedFrom = Literal["store", "cache"]  # where a replica read the version's files


class RecommendRequest(BaseModel):
    """``POST /v1/recommend`` body. Unknown fields and loose types (``"k": "10"``) are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: ItemId
    k: StrictInt = Field(default=DEFAULT_K, ge=1, le=MAX_K)
    history: list[ItemId] | None = Field(default=None, max_length=MAX_HISTORY)
    exclude: list[ItemId] | None = Field(default=None, max_length=MAX_EXCLUDE)


class RecommendResponse(BaseModel):
    """The 200 answer of both the replica and the router (the router adds ``reason`` when it
    answers degraded). Kept exact (``extra="forbid"``): a test checks both servers' real
    answers against it, so a field added or dropped in one place fails until it is here."""

    model_config = ConfigDict(extra="forbid", strict=True)

    items: list[str]
    scores: list[float]
    model_version: str
    degraded: bool
    source: AnswerSource
    zone: str
    replica: str
    reason: str | None = None


class ModelInfo(BaseModel):
    """``GET /v1/model``: what a replica serves; the router learns popular items from it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str
    version: str
    alias: str
    origin: Literal["alias", "previous", "newest", "cache"]  # how the version was chosen
    source: ModelLoadedFrom
    loaded_at: str
    popular_items: list[str]
    metrics: dict[str, Any]
    exclude_seen: bool
    search: Literal["approximate", "exact"]  # approximate: through the version's index
    index: dict[str, Any] | None  # the manifest's index block (recall@20 vs exact, params)
    zone: str
    replica: str


class RequestError(Exception):
    """A client error: carries the HTTP status and the JSON body to send back."""

    def __init__(self, status: int, error: str, detail: str, errors: list | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error, "detail": self.detail}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def check_content_type(content_type: str | None) -> None:
    """415 unless the body is declared JSON (``application/json`` with optional parameters)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != JSON_CONTENT_TYPE and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise RequestError(
            415,
            "unsupported_media_type",
            f"Content-Type must be {JSON_CONTENT_TYPE}, got {content_type or 'none'!r}",
        )


def parse_recommend(raw: bytes) -> RecommendRequest:
    """Parse and validate a body already known to be at most MAX_BODY_BYTES long."""
    if len(raw) > MAX_BODY_BYTES:
        raise RequestError(413, "body_too_large", f"body exceeds {MAX_BODY_BYTES} bytes")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, "invalid_json", f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise RequestError(
            422, "invalid_request", f"body must be a JSON object, got {type(data).__name__}"
        )
    try:
        return RecommendRequest.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"loc": [str(p) for p in err["loc"]], "msg": err["msg"], "type": err["type"]}
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        detail = "; ".join(f"{'.'.join(e['loc']) or 'body'}: {e['msg']}" for e in errors)
        raise RequestError(422, "invalid_request", detail, errors) from exc
