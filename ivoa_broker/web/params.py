"""Reading UWS parameters: query string plus urlencoded or multipart body.

Names are case-insensitive (DALI), so they are folded to lower case here, once.
Values are kept as sent. Bodies are bounded.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.requests import Request

from ivoa_broker.errors import BadRequest, PayloadTooLarge

MAX_BODY = 1024 * 1024
MAX_FIELDS = 1024


def query_pairs(request: Request) -> list[tuple[str, str]]:
    """The query string's pairs, names in lower case; no parsing when there is none (the
    usual GET)."""
    if not request.scope.get("query_string"):
        return []
    return [(k.lower(), v) for k, v in request.query_params.multi_items()]


async def read_params(request: Request, *, include_query: bool = True) -> list[tuple[str, str]]:
    pairs = query_pairs(request) if include_query else []
    if request.method != "POST":
        return pairs
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        raise PayloadTooLarge(f"request body is {length} bytes; at most {MAX_BODY}")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/x-www-form-urlencoded", "multipart/form-data", ""):
        raise BadRequest(
            f"unsupported Content-Type {ctype!r}; send application/x-www-form-urlencoded "
            "or multipart/form-data"
        )
    if ctype == "":
        return pairs
    body = await _bounded_body(request)
    if ctype == "application/x-www-form-urlencoded":
        pairs.extend((k.lower(), v) for k, v in _urlencoded(body))
        return pairs
    try:
        form = await request.form(
            max_files=0 if ctype != "multipart/form-data" else 16, max_fields=MAX_FIELDS
        )
    except Exception as exc:  # python-multipart raises several types
        raise BadRequest(f"cannot read the form body: {exc}") from None
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                raise BadRequest(
                    f"parameter {key!r} is a file upload; inline uploads are not supported, "
                    "pass the data by URL (parameter 'input')"
                )
            pairs.append((key.lower(), value))
    finally:
        await form.close()
    # Starlette decodes a field that is not UTF-8 as Latin-1; with file parts refused
    # above, every byte of a multipart body is text: it must all be UTF-8
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("a form field is not UTF-8; send UTF-8 text") from None
    return pairs


async def _bounded_body(request: Request) -> bytes:
    """The whole body, refused past :data:`MAX_BODY` however it is framed (chunked too)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge(f"request body is more than {MAX_BODY} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    # Starlette's own parsers read the body again from this attribute (Request.body())
    request._body = body
    return body


def _urlencoded(body: bytes) -> list[tuple[str, str]]:
    """A form body as pairs; it must be UTF-8, percent-escapes included (else 400)."""
    try:
        text = body.decode("utf-8")
        return parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError:
        raise BadRequest(
            "the form body is not UTF-8 (raw or percent-encoded); send UTF-8 text"
        ) from None
    except ValueError:
        raise BadRequest(f"the form body has more than {MAX_FIELDS} fields") from None


def single(pairs: list[tuple[str, str]], name: str) -> str | None:
    """The one value of ``name`` (lower case), or None; BadRequest if repeated."""
    values = [v for k, v in pairs if k == name]
    if len(values) > 1:
        raise BadRequest(f"{name.upper()} given {len(values)} times; give it once")
    return values[0] if values else None
