"""Notify settings: lists from the environment, required webhook secret, active channels."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.notify.bootstrap import subscriber_names
from services.notify.config import NotifySettings


def test_by_default_only_the_inbox_is_active(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("APPEALS_SMTP_HOST", "APPEALS_SMS_GATEWAY_URL", "APPEALS_WEBHOOK_URLS"):
        monkeypatch.delenv(name, raising=False)
    assert NotifySettings().active_channels() == frozenset({"inbox"})


def test_channels_and_urls_read_as_comma_lists_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPEALS_NOTIFY_CHANNELS", "inbox, sms")
    monkeypatch.setenv("APPEALS_WEBHOOK_URLS", '["https://a.example.org/h"]')
    monkeypatch.setenv("APPEALS_WEBHOOK_SECRET", "s" * 32)
    monkeypatch.setenv("APPEALS_SMS_GATEWAY_URL", "http://127.0.0.1:9/sms")
    settings = NotifySettings()
    assert settings.webhook_urls == ["https://a.example.org/h"]
    # webhooks are configured but not enabled
    assert settings.active_channels() == frozenset({"inbox", "sms"})


def test_webhooks_need_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPEALS_WEBHOOK_URLS", "https://a.example.org/h")
    monkeypatch.delenv("APPEALS_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET"):
        NotifySettings()
    monkeypatch.setenv("APPEALS_WEBHOOK_SECRET", "changethis")
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET"):
        NotifySettings()


def test_unknown_channels_and_short_leases_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPEALS_NOTIFY_CHANNELS", "inbox,pigeon")
    with pytest.raises(ValidationError):
        NotifySettings()
    monkeypatch.delenv("APPEALS_NOTIFY_CHANNELS")
    with pytest.raises(ValidationError, match="lease"):
        NotifySettings(delivery_lease_seconds=5, send_timeout_seconds=10)


def test_subscriber_names_do_not_depend_on_order() -> None:
    a, b = "https://a.example.org/h", "https://b.example.org/h"
    assert subscriber_names([a, b]) == subscriber_names([b, a])
    assert len(subscriber_names([a, b])) == 2
