"""How fast the REST API answers one caller: DRF throttles whose rates are read from
the settings at each request (DRF's own read them once, at import, so neither a test
nor `override_settings` could change them).

Rates are `API_THROTTLE_USER` (per signed-in user), `API_THROTTLE_ANON` (per address,
before signing in) and `API_THROTTLE_AUTH` (per address, on the token endpoint only:
the one a password guesser uses). A throttled request is a 429 with `Retry-After`.
"""

from typing import Any

from django.conf import settings
from rest_framework import throttling


class _RateFromSettings(throttling.SimpleRateThrottle):
    def get_rate(self) -> str | None:
        rest_framework: dict[str, Any] = settings.REST_FRAMEWORK
        return rest_framework["DEFAULT_THROTTLE_RATES"][self.scope]


class AddressRateThrottle(_RateFromSettings, throttling.AnonRateThrottle):
    """Requests without credentials, per client address."""

    scope = "address"


class UserRateThrottle(_RateFromSettings, throttling.UserRateThrottle):
    """Requests of a signed-in user, from any address."""

    scope = "user"


class AuthRateThrottle(_RateFromSettings):
    """Token requests per client address, whoever they claim to be."""

    scope = "auth"

    def get_cache_key(self, request: Any, view: Any) -> str:
        ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
