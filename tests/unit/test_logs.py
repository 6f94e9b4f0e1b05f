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
