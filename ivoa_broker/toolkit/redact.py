"""Secret redaction for texts that came from a platform (error bodies, stderr)."""

from __future__ import annotations

from collections.abc import Iterable

from ivoa_broker.protocol import Secret

__all__ = ["REDACTED", "Redactor"]

REDACTED = "***"


class Redactor:
    """Replaces every secret it knows with ``***``.

    Secrets may be plain strings or :class:`~ivoa_broker.protocol.Secret`;
    empty ones are ignored. Longer secrets are replaced first, so a secret
    that contains another is never half revealed.
    """

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str | Secret] = ()) -> None:
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | Secret | None) -> None:
        """Know one more secret (a token obtained later, say)."""
        if secret is None:
            return
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value and value not in self._secrets:
            self._secrets.append(value)
            self._secrets.sort(key=len, reverse=True)

    def with_secrets(self, secrets: Iterable[str | Secret | None]) -> Redactor:
        """A copy that also knows ``secrets`` (a per-call token)."""
        copy = Redactor(self._secrets)
        for secret in secrets:
            copy.add(secret)
        return copy

    def scrub(self, text: str) -> str:
        """``text`` with every known secret replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"
