"""Bearer tokens for the citizen and staff APIs: signed, expiring, and naming how the user logged in.

The mocks stand in for ID-porten/HelseID, so a token is an HMAC-SHA256-signed
set of claims rather than a JWT from a real identity provider. What matters for
the harness is that every endpoint can tell who is calling, at which security
level, and refuse a forged, altered or expired token with a clear reason.

Every API reads the ``Authorization`` header through the one helper here
(:func:`verify_bearer`, :class:`OperatorGate`), so each answers a missing or bad
token with the same 401 form: the rule in the body, and a ``WWW-Authenticate``
challenge per RFC 6750 (:func:`challenge`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from fastapi import Header, HTTPException


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
    jti: str | None = None
    """A random id per token: two logins in the same second must not yield the same token, or logging one out
    would log out the other."""


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
        self._revoked: dict[str, float] = {}
        """Signature of a token logged out → its expiry (forgotten once expired: it would be refused anyway)."""
        self._lock = threading.Lock()

    def issue(self, *, sub: str, role: str, eid: str, level: int, now: datetime, org: str | None = None) -> str:
        claims = Claims(sub=sub, role=role, eid=eid, level=level, exp=(now + self.lifetime).timestamp(), org=org,
                        jti=secrets.token_hex(8))
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
        if signature in self._revoked:
            raise TokenError("auth.revoked", "token was logged out; log in again")
        return claims

    def revoke(self, token: str, *, now: datetime) -> Claims:
        """Log ``token`` out: from now on :meth:`verify` refuses it with ``auth.revoked``. Returns its claims
        (a token that does not verify raises :class:`TokenError`, so nobody revokes what they do not hold)."""
        claims = self.verify(token, now=now)
        with self._lock:
            self._revoked = {sig: exp for sig, exp in self._revoked.items() if exp > now.timestamp()}
            self._revoked[token.partition(".")[2]] = claims.exp
        return claims

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode("ascii"), hashlib.sha256).digest())


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header (the scheme is case-insensitive, RFC 7235 §2.1);
    None when the header is absent, names another scheme or carries no token."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def challenge(realm: str, *, token_given: bool) -> str:
    """The ``WWW-Authenticate`` value of every 401 the harness sends (RFC 6750 §3): the API's realm, plus
    ``error="invalid_token"`` when a bearer token was sent and refused. Without a bearer token (no header,
    another scheme, ``Bearer`` alone) there is no error code: §3.1 says a request that lacks authentication
    gets none."""
    return f'Bearer realm="{realm}", error="invalid_token"' if token_given else f'Bearer realm="{realm}"'


def unauthorised(rule: str, message: str, *, realm: str, token_given: bool) -> HTTPException:
    """A 401 naming the rule, with the one challenge form of :func:`challenge`."""
    return HTTPException(401, {"rule": rule, "message": message},
                         headers={"WWW-Authenticate": challenge(realm, token_given=token_given)})


def require_bearer(authorization: str | None, *, realm: str) -> str:
    """The bearer token of ``authorization``, or a 401: ``auth.missing`` without the header, ``auth.malformed``
    with one that holds no bearer token (another scheme, ``Bearer`` alone)."""
    token = bearer_token(authorization)
    if token is not None:
        return token
    if not authorization:
        raise unauthorised("auth.missing", "log in and send Authorization: Bearer <token>", realm=realm,
                           token_given=False)
    raise unauthorised("auth.malformed", "expected Authorization: Bearer <token>", realm=realm, token_given=False)


def verify_bearer(signer: TokenSigner, authorization: str | None, *, realm: str, now: datetime) -> Claims:
    """The claims of the bearer token ``authorization`` carries, or a 401 naming the rule: ``auth.missing``,
    ``auth.malformed``, or the :class:`TokenError` rule (signature, expiry, revocation)."""
    token = require_bearer(authorization, realm=realm)
    try:
        return signer.verify(token, now=now)
    except TokenError as exc:
        raise unauthorised(exc.rule, str(exc), realm=realm, token_given=True) from None


OPERATOR_REALM = "operator"
"""The realm of the administrative endpoints' 401 challenge."""


class OperatorGate:
    """The operator token that guards administrative endpoints (AR/CPPA writes, certificate publication, the
    whole notification outbox): NHN's registries take writes only from their operators, and a harness on a
    shared machine must not let any local process re-route another party's messages or list every citizen's
    phone number. Callers send ``Authorization: Bearer TOKEN``; the comparison is constant-time.

    The gate itself is the FastAPI dependency: ``dependencies=[Depends(gate)]`` on a route enforces
    :meth:`require` (and documents the ``authorization`` header in the OpenAPI document)."""

    def __init__(self, token: str) -> None:
        if len(token) < 16:
            raise ValueError("operator token must be at least 16 characters")
        self.token = token

    def allows(self, authorization: str | None) -> bool:
        given = bearer_token(authorization)
        return given is not None and given.isascii() and hmac.compare_digest(given.encode(), self.token.encode())

    def require(self, authorization: str | None) -> None:
        """Raise a 401 naming the rule unless ``authorization`` carries the operator token."""
        if not self.allows(authorization):
            raise unauthorised("auth.operator", "this endpoint needs the operator token: Authorization: Bearer "
                                                "<token printed by digihelse serve>",
                               realm=OPERATOR_REALM, token_given=bearer_token(authorization) is not None)

    def __call__(self, authorization: str | None = Header(default=None)) -> None:
        self.require(authorization)
