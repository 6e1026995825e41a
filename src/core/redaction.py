"""Secrets out of text: every form a secret may take in an error message, replaced by a mask.

A server or client library may quote a token as it was sent, escaped (``repr``, JSON), URL-encoded
or base64-encoded (HTTP Basic credentials, a token inside an encoded blob). :func:`redact` masks
each of those forms. Redact before cutting a text short: a cut can leave a secret's prefix that no
longer matches it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from urllib.parse import quote, quote_plus

REDACTED = "**********"
"""What a secret is replaced with (pydantic shows secrets the same way)."""

#: Encoded forms shorter than this are not masked: they would mask ordinary text.
MIN_FORM = 4


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every secret replaced by :data:`REDACTED`."""
    forms = {form for secret in secrets if secret for form in secret_forms(secret)}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return text


def secret_forms(secret: str) -> set[str]:
    """The ways ``secret`` may be written in a message: as is, escaped, URL- and base64-encoded."""
    plain = {value for value in (secret, secret.strip()) if value}
    encoded: set[str] = set()
    for value in plain:
        encoded.update((repr(value)[1:-1], json.dumps(value)[1:-1]))
        encoded.update((quote(value, safe=""), quote_plus(value), quote(value)))
        encoded.update(_base64_forms(value.encode("utf-8")))
    return plain | {form for form in encoded if len(form) >= MIN_FORM}


def _base64_forms(secret: bytes) -> Iterator[str]:
    """The base64 characters that encode ``secret`` wherever it starts in an encoded text.

    Base64 encodes 3 bytes as 4 characters, so a secret at each of the 3 offsets of a group has
    its own encoding; the characters of groups shared with the bytes around it are left out.
    """
    for offset in range(3):
        padded = b"\0" * offset + secret
        whole = (len(padded) // 3) * 3  # complete groups only: the last one may share bytes
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(padded[:whole]).decode("ascii")
            yield text[4:] if offset else text
