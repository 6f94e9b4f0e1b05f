"""Log lines cannot be forged by what a client sends."""

import logging

from app.logs import ContextFormatter


def test_a_newline_in_a_client_value_does_not_start_a_forged_line() -> None:
    formatter = ContextFormatter("%(levelname)s %(name)s: %(message)s")
    forged = "s1\n2026-12-03 09:00:00 INFO app.auth: admin signed in"
    record = logging.LogRecord(
        "app.test", logging.WARNING, __file__, 1, "unknown persona %r then %s", ("x", forged), None
    )
    record.session_id = forged
    line = formatter.format(record)
    assert "\n" not in line
    assert "\\n2026-12-03" in line
    assert line.count("session_id=") == 1


def test_json_lines_carry_the_context_as_keys() -> None:
    import json

    from app.logs import JsonFormatter

    record = logging.LogRecord("app.test", logging.INFO, __file__, 1, "turn answered in %d ms", (12,), None)
    record.session_id, record.turn_id = "s\n1", "t1"
    line = JsonFormatter().format(record)
    assert "\n" not in line.replace("\\n", "")
    assert json.loads(line) | {"time": None} == {
        "time": None,
        "level": "INFO",
        "logger": "app.test",
        "message": "turn answered in 12 ms",
        "session_id": "s\n1",
        "turn_id": "t1",
    }
