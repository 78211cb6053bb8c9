"""API tokens: made from a username and password, sent as `Authorization: Token <key>`.

A key is 256 random bits shown once; the database keeps its SHA-256 only, so a copy
of the database opens nothing. A token dies:

- at its `expires_at` (`API_TOKEN_TTL_DAYS` after it was made; 0: never);
- when its user's password changes, by any path (`create_user`, the admin's password
  form, `changepassword`): it keeps the hash Django's sessions die by, and a new
  password makes a new one;
- when it is revoked (deleted): by its user through the API, or by a superuser in
  the admin;
- with its user (deleted, or made inactive).

Endpoints: verification/api_tokens.py.
"""

import datetime as dt
import enum
import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from rest_framework import authentication, exceptions

from verification.models import ApiToken

KEY_BYTES = 32  # 43 characters of URL-safe base64
LAST_USED_PRECISION = dt.timedelta(hours=1)
NEW_TOKEN_HINT = "ask for a new one: POST /api/v1/auth/token/"


class TokenState(enum.StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    PASSWORD_CHANGED = "password_changed"
    USER_INACTIVE = "user_inactive"


# What a client is told when its token is refused, by state.
REFUSALS = {
    TokenState.EXPIRED: f"token expired; {NEW_TOKEN_HINT}",
    TokenState.PASSWORD_CHANGED: (
        f"token revoked: the password changed; {NEW_TOKEN_HINT}"
    ),
    TokenState.USER_INACTIVE: "user inactive or deleted",
}
UNKNOWN_TOKEN = f"invalid token: unknown, or revoked; {NEW_TOKEN_HINT}"


def key_hash(key: str) -> str:
    # No salt, no slow hash: a key has 256 random bits, nothing to guess.
    return hashlib.sha256(key.encode()).hexdigest()


def token_create(*, user: Any, name: str = "") -> tuple[ApiToken, str]:
    """A new token for `user`, and its key: the only time the key is seen."""
    key = secrets.token_urlsafe(KEY_BYTES)
    now = timezone.now()
    ttl_days = settings.API_TOKEN_TTL_DAYS
    token = ApiToken.objects.create(
        key_hash=key_hash(key),
        user=user,
        name=name,
        expires_at=now + dt.timedelta(days=ttl_days) if ttl_days else None,
        last_used_at=now,
        password_fingerprint=user.get_session_auth_hash(),
    )
    return token, key


def token_revoke(*, user: Any, token_id: int) -> None:
    """Delete one of `user`'s tokens; ApiToken.DoesNotExist for anyone else's."""
    deleted, _ = ApiToken.objects.filter(pk=token_id, user=user).delete()
    if not deleted:
        raise ApiToken.DoesNotExist(f"user {user.pk} has no token {token_id}")


def token_list(*, user: Any) -> QuerySet[ApiToken]:
    """`user`'s tokens, dead ones included (their state says why)."""
    return ApiToken.objects.filter(user=user).order_by("-id")


def token_state(token: ApiToken, *, user: Any) -> TokenState:
    """Whether `token` (of `user`, passed to spare a query) may authenticate now."""
    if not user.is_active:
        return TokenState.USER_INACTIVE
    if not _password_unchanged(token, user):
        return TokenState.PASSWORD_CHANGED
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return TokenState.EXPIRED
    return TokenState.ACTIVE


def _password_unchanged(token: ApiToken, user: Any) -> bool:
    # As Django checks a session: the current SECRET_KEY, then SECRET_KEY_FALLBACKS,
    # so rotating the key with a fallback keeps tokens as it keeps sessions.
    return any(
        constant_time_compare(token.password_fingerprint, fingerprint)
        for fingerprint in (
            user.get_session_auth_hash(),
            *user.get_session_auth_fallback_hash(),
        )
    )


def _token_touch(token: ApiToken) -> None:
    now = timezone.now()
    if now - token.last_used_at < LAST_USED_PRECISION:
        return
    # Guarded: of concurrent requests, one writes; none waits on another's row lock
    # for longer than the update itself.
    ApiToken.objects.filter(
        pk=token.pk, last_used_at__lt=now - LAST_USED_PRECISION
    ).update(last_used_at=now)
    token.last_used_at = now


class ApiTokenAuthentication(authentication.TokenAuthentication):
    """DRF's `Authorization: Token <key>` (same header, same `WWW-Authenticate:
    Token`, same 401s), against ApiToken: hashed keys, expiry, password changes."""

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiToken]:
        try:
            token = ApiToken.objects.select_related("user").get(key_hash=key_hash(key))
        except ApiToken.DoesNotExist:
            raise exceptions.AuthenticationFailed(UNKNOWN_TOKEN) from None
        state = token_state(token, user=token.user)
        if state is not TokenState.ACTIVE:
            raise exceptions.AuthenticationFailed(REFUSALS[state])
        _token_touch(token)
        return token.user, token
