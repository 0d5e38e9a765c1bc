"""Bearer tokens for the citizen and staff APIs: signed, expiring, and naming how the user logged in.

The mocks stand in for ID-porten/HelseID, so a token is an HMAC-SHA256-signed
set of claims rather than a JWT from a real identity provider. What matters for
the harness is that every endpoint can tell who is calling, at which security
level, and refuse a forged, altered or expired token with a clear reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta


class TokenError(ValueError):
    """The token cannot be trusted; ``rule`` says why (auth.malformed, auth.signature, auth.expired)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True, slots=True)
class Claims:
    sub: str
    """Who: a fødselsnummer for citizens, a staff id for EPJ users."""
    role: str
    """``citizen`` or ``staff``."""
    eid: str
    """How they logged in: ``bankid``, ``bankid-mobil``, ``buypass``, ``commfides``, ``minid``, ``epj``."""
    level: int
    """Security level (4 for BankID and friends, 3 for MinID)."""
    exp: float
    """Expiry as a POSIX timestamp."""
    org: str | None = None
    """For staff: the HER-id of the service they work for."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    def __init__(self, secret: bytes, lifetime: timedelta = timedelta(hours=1)) -> None:
        if len(secret) < 16:
            raise ValueError("secret must be at least 16 bytes")
        self._secret = secret
        self.lifetime = lifetime

    def issue(self, *, sub: str, role: str, eid: str, level: int, now: datetime, org: str | None = None) -> str:
        claims = Claims(sub=sub, role=role, eid=eid, level=level, exp=(now + self.lifetime).timestamp(), org=org)
        payload = _b64(json.dumps(asdict(claims), separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{self._sign(payload)}"

    def verify(self, token: str, *, now: datetime) -> Claims:
        payload, dot, signature = token.partition(".")
        if not dot or not payload or not signature:
            raise TokenError("auth.malformed", "token is not of the form payload.signature")
        if not token.isascii():  # base64url only; hmac.compare_digest and the signer need ASCII
            raise TokenError("auth.malformed", "token holds characters outside base64url")
        if not hmac.compare_digest(self._sign(payload), signature):
            raise TokenError("auth.signature", "token signature does not match (forged or altered)")
        try:
            claims = Claims(**json.loads(_unb64(payload)))
        except (ValueError, TypeError) as exc:
            raise TokenError("auth.malformed", f"token payload is unreadable: {exc}") from None
        if now.timestamp() >= claims.exp:
            raise TokenError("auth.expired", "token has expired; log in again")
        return claims

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode("ascii"), hashlib.sha256).digest())
