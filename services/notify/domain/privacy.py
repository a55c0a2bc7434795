"""Masking of phone numbers and e-mail addresses for logs, metrics and error texts.

Notify handles personal data only to send a message; anything it writes elsewhere (logs, the
dead-letter topic, ``last_error`` in the delivery log) goes through these functions first.
"""

from __future__ import annotations

import re

__all__ = ["mask_address", "mask_email", "mask_phone", "scrub"]

_EMAIL = re.compile(r"[^@\s<>\"',;:]+@[^@\s<>\"',;:]+\.[^@\s<>\"',;:]+")
_PHONE = re.compile(r"\+?\d[\d \-]{6,}\d")


def mask_phone(phone: str) -> str:
    """``13800000000`` -> ``138****0000``: first three and last four digits stay."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) <= 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def mask_email(email: str) -> str:
    """``alice@example.com`` -> ``a***@example.com``."""
    local, at, domain = email.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_address(address: str) -> str:
    """An e-mail address or a phone number, masked; anything else is returned as is."""
    if "@" in address:
        return mask_email(address)
    if _PHONE.fullmatch(address.strip()):
        return mask_phone(address)
    return address


def scrub(text: str) -> str:
    """A free text (an SMTP server's reply, an exception) with addresses and numbers masked."""
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)
