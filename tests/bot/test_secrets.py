"""The log redactor: loaded secrets and secret-shaped values never reach a log line."""

from __future__ import annotations

import logging

from bot.secrets import SecretRedactor


def test_the_log_redactor_masks_loaded_secrets_and_token_shapes(caplog):
    red = SecretRedactor(["my-signing-secret-123"])
    logger = logging.getLogger("redaction-test")
    logger.addFilter(red)
    with caplog.at_level(logging.INFO, logger="redaction-test"):
        logger.info("connecting with %s and xoxb-1111-2222-abcdefgh", "my-signing-secret-123")
    assert "my-signing-secret-123" not in caplog.text
    assert "xoxb-1111" not in caplog.text
    assert "[redacted]" in caplog.text
