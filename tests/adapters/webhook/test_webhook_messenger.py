"""The webhook Messenger's contract: what it declares, what it refuses, how it reads Retry-After."""

from __future__ import annotations

import email.utils

import pytest

from adapters.webhook.adapter import WebhookMessenger, retry_after
from adapters.webhook.payload import signature, verify
from core.errors import DeliveryError
from core.reply import Reply
from core.spec import WebhookSpec

SPEC = WebhookSpec(name="ops", url="http://127.0.0.1:9/hook")


def test_a_webhook_declares_it_can_neither_edit_nor_thread() -> None:
    assert (WebhookMessenger.can_edit, WebhookMessenger.can_thread) == (False, False)


async def test_an_edit_asked_of_a_webhook_is_refused_for_good_saying_why() -> None:
    hook = WebhookMessenger([SPEC], {}, host="h")
    with pytest.raises(DeliveryError, match="cannot edit") as refused:
        await hook.update("ops", "ops:1", Reply(title="x"))
    assert not refused.value.retryable


async def test_a_post_to_a_webhook_the_config_does_not_name_fails_for_good() -> None:
    hook = WebhookMessenger([SPEC], {}, host="h")
    await hook.start()
    try:
        with pytest.raises(DeliveryError, match="no \\[\\[webhook\\]\\] named 'pager'") as refused:
            await hook.post("pager", Reply(title="x"))
        assert not refused.value.retryable
    finally:
        await hook.stop()


async def test_a_webhook_whose_secret_variable_is_unset_is_never_sent_unsigned() -> None:
    spec = WebhookSpec(name="ops", url="http://127.0.0.1:9/hook", secret_env="OPS_SECRET")
    hook = WebhookMessenger([spec], {"ops": None}, host="h")
    await hook.start()
    try:
        with pytest.raises(DeliveryError, match="signing secret is not set \\(OPS_SECRET\\)"):
            await hook.post("ops", Reply(title="x"))
    finally:
        await hook.stop()


def test_the_messenger_repr_names_the_webhooks_and_never_the_secret() -> None:
    assert "s3cr3t" not in repr(WebhookMessenger([SPEC], {"ops": "s3cr3t-value"}, host="h"))


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("7", now=1000.0) == 7.0
    assert retry_after(email.utils.formatdate(1030.0, usegmt=True), now=1000.0) == 30.0
    assert retry_after("soon", now=1000.0) is None and retry_after(None, now=0.0) is None


def test_a_signature_verifies_only_for_the_same_secret_timestamp_and_body() -> None:
    sig = signature("k", "100", b"{}")
    assert verify("k", "100", b"{}", sig)
    assert not verify("other", "100", b"{}", sig)
    assert not verify("k", "101", b"{}", sig)
    assert not verify("k", "100", b"{ }", sig)
