"""One log format: key=value or JSON lines, extras as keys, credentials redacted."""

from __future__ import annotations

import json
import logging

from ivoa_broker.logs import LineFormatter, redact_query


def _record(msg: str, name: str = "ivoa_broker.jobs", **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, msg, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_keyvalue_line_has_extras() -> None:
    line = LineFormatter("keyvalue").format(_record("job moved", job="abc", phase="COMPLETED"))
    assert "level=info" in line
    assert 'msg="job moved"' in line
    assert "job=abc" in line and "phase=COMPLETED" in line
    assert "\n" not in line


def test_json_line_parses() -> None:
    line = LineFormatter("json").format(_record("hello", owner="alice"))
    data = json.loads(line)
    assert data["msg"] == "hello" and data["owner"] == "alice" and data["level"] == "info"


def test_access_line_query_credentials_are_redacted() -> None:
    msg = '127.0.0.1:1 - "GET /jobs?access_token=s3cr3t&LAST=5&api_key=k HTTP/1.1" 200'
    line = LineFormatter("keyvalue").format(_record(msg, name="uvicorn.access"))
    assert "s3cr3t" not in line and "api_key=***" in line and "LAST=5" in line


def test_redact_query_keeps_plain_parameters() -> None:
    assert redact_query("/jobs?PHASE=RUN") == "/jobs?PHASE=RUN"
    assert redact_query("/x?token=a&b=c") == "/x?token=***&b=c"


def test_redact_query_hides_the_openid_callbacks_code_and_state() -> None:
    line = (
        "GET /login/callback?code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj&iss=https://op HTTP/1.1"
    )
    assert redact_query(line) == ("GET /login/callback?code=***&state=***&iss=https://op HTTP/1.1")
    assert redact_query("/x?session_state=s1&code_verifier=v&errorcode=7") == (
        "/x?session_state=***&code_verifier=***&errorcode=7"
    )
