"""Rendering a delivery into a message in the recipient's language (jinja2 templates).

Templates live in ``services/notify/templates/<language>/<topic>.j2``, one file per topic and
language (``zh-CN`` and ``en``), each with three blocks: ``subject`` (e-mail subject, inbox
title), ``body`` (e-mail text) and ``short`` (SMS, inbox line). A resident's language is
``contact.language``; a unit's is its ``unit_contacts`` preference; both default to zh-CN.
Webhook subscribers get the event itself as JSON, not a text.

The composer is pure: it is handed a template loader and the city, and touches nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from services.notify.domain.channels import Delivery, Message, Reach
from shared.city import City

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "TEMPLATE_DIR", "MessageComposer", "language_for"]

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates"


def language_for(reach: Reach) -> str:
    """The recipient's language if we have templates in it, else zh-CN."""
    return reach.language if reach.language in LANGUAGES else DEFAULT_LANGUAGE


class MessageComposer:
    """Turns (delivery, reach) into a ``Message``."""

    def __init__(
        self,
        loader: jinja2.BaseLoader,
        *,
        public_base_url: str,
        timezone: str = "Asia/Shanghai",
        city: City | None = None,
    ) -> None:
        self.env = jinja2.Environment(
            loader=loader,
            autoescape=False,  # plain-text messages; the inbox UI escapes when it renders
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.zone = ZoneInfo(timezone)
        self.base_url = public_base_url.rstrip("/")
        self.city = city
        self.env.filters["local"] = self._local
        self.env.globals["unit_name"] = self._unit_name

    def compose(self, delivery: Delivery, reach: Reach) -> Message:
        """The message for one delivery; raises jinja2 errors for a broken template."""
        notice = delivery.notice
        trigger = notice.trigger
        language = language_for(reach)
        link = self.link_for(delivery, reach)
        if delivery.channel == "webhook":
            subject = body = short = trigger.type
            payload: dict[str, Any] = {
                "delivery_key": delivery.key,
                "event": _jsonable(trigger.as_envelope()),
            }
        else:
            variables: dict[str, Any] = {
                "appeal_id": trigger.appeal_id,
                "event_type": trigger.type,
                "occurred_at": trigger.occurred_at,
                "street": trigger.street,
                "unit": trigger.unit,
                "data": trigger.data,
                "context": notice.context,
                "role": notice.role,
                "recipient": notice.recipient.id,
                "tracking_no": trigger.data.get("tracking_no") or reach.tracking_no,
                "name": reach.name,
                "link": link,
            }
            template = self.env.get_template(f"{language}/{notice.topic}.j2")
            # Top-level {% set %}s (label tables) are not run when a block is rendered alone;
            # the template's module holds them.
            module = template.make_module(variables)
            variables |= {k: v for k, v in vars(module).items() if not k.startswith("_")}
            subject = _block(template, "subject", variables)
            body = _block(template, "body", variables)
            short = _block(template, "short", variables)
            payload = {}
        return Message(
            key=delivery.key,
            channel=delivery.channel,
            recipient=notice.recipient.address,
            appeal_id=trigger.appeal_id,
            event_id=trigger.id,
            event_type=trigger.type,
            topic=notice.topic,
            language=language,
            subject=subject,
            body=body,
            short=short,
            link=link,
            to=reach.addresses(delivery.channel),
            payload=payload,
        )

    def link_for(self, delivery: Delivery, reach: Reach) -> str | None:
        """Residents: their status page by tracking number; staff: the appeal in the UI."""
        notice = delivery.notice
        if notice.recipient.kind == "resident":
            tracking_no = notice.trigger.data.get("tracking_no") or reach.tracking_no
            return f"{self.base_url}/status/{tracking_no}" if tracking_no else None
        if notice.recipient.kind == "unit":
            return f"{self.base_url}/appeals/{notice.trigger.appeal_id}"
        return None

    def _local(self, value: datetime | str | None) -> str:
        if value is None:
            return ""
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def _unit_name(self, code: str | None) -> str:
        if code is None:
            return ""
        name = self.city.unit_name(code) if self.city is not None else None
        return f"{name} ({code})" if name else code


def _block(template: jinja2.Template, name: str, variables: Mapping[str, Any]) -> str:
    context = template.new_context(dict(variables))
    return "".join(template.blocks[name](context)).strip()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
