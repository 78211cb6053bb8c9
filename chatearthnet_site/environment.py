"""Typed reads of environment variables that fail loudly on a bad value.

A typo in `DEBUG=flase` or `INGEST_BATCH_SIZE=5OO` must stop the process at start-up
with the variable's name, not fall back silently to a default.
"""

import ipaddress
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not one of {', '.join(choices)}"
        )
    return value


_RATE = re.compile(r"(\d+)/(second|minute|hour|day)")


def env_rate(name: str, default: str) -> str:
    """A request rate as DRF's throttles read it: `120/minute`, `5/second`, ..."""
    value = os.environ.get(name, default).strip()
    match = _RATE.fullmatch(value)
    if match is None or int(match.group(1)) < 1:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a rate such as 120/minute "
            "(per second, minute, hour or day)"
        )
    return value


def env_paths(name: str) -> list[Path]:
    """A comma-separated list of absolute folders, resolved (symlinks followed)."""
    paths = []
    for item in env_list(name, []):
        path = Path(item)
        if not path.is_absolute():
            raise ImproperlyConfigured(f"{name}: {item!r} is not an absolute path")
        paths.append(path.resolve())
    return paths


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def env_networks(name: str, default: list[str]) -> list[IpNetwork]:
    """A comma-separated list of addresses and networks: `10.0.0.5, 10.1.0.0/16,
    ::1`. An address is a network of one; a network with host bits set
    (`10.1.0.7/16`) is refused, as it is more likely a typo than meant."""
    networks = []
    for item in env_list(name, default):
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not an IP address or network "
                "(e.g. 10.0.0.5 or 10.0.0.0/24)"
            ) from None
    return networks


_ENDPOINT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,49}")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def env_llm_endpoints(name: str, default: dict[str, dict]) -> dict[str, dict]:
    """LLM endpoints as `NAME URL [KEY_VARIABLE]`, separated by commas.

    `openai https://api.openai.com/v1 OPENAI_API_KEY, local http://10.0.0.5:8000/v1`
    gives {"openai": {"base_url": ..., "key_variable": "OPENAI_API_KEY"}, "local":
    {"base_url": ..., "key_variable": ""}}. The key itself never sits in this value:
    only the name of the variable (or of `<VARIABLE>_FILE`) that holds it.
    """
    raw = os.environ.get(name)
    if raw is None:
        return default
    endpoints: dict[str, dict] = {}
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        words = entry.split()
        if len(words) not in (2, 3):
            raise ImproperlyConfigured(
                f"{name}: {entry!r} is not 'NAME URL [KEY_VARIABLE]'"
            )
        endpoint, url, key_variable = words[0], words[1], "".join(words[2:])
        if not _ENDPOINT_NAME.fullmatch(endpoint):
            raise ImproperlyConfigured(f"{name}: {endpoint!r} is not an endpoint name")
        if endpoint in endpoints:
            raise ImproperlyConfigured(f"{name}: {endpoint!r} is named twice")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ImproperlyConfigured(f"{name}: {url!r} is not an http(s) URL")
        if key_variable and not _VARIABLE_NAME.fullmatch(key_variable):
            raise ImproperlyConfigured(
                f"{name}: {key_variable!r} is not an environment variable name"
            )
        endpoints[endpoint] = {"base_url": url, "key_variable": key_variable}
    if not endpoints:
        raise ImproperlyConfigured(f"{name} is set but names no endpoint")
    return endpoints


def store_origins(endpoint_url: str | None) -> list[str]:
    """The origins an S3-compatible store's signed URLs can have, for the CSP.

    Its own endpoint (AWS_S3_ENDPOINT_URL), with its subdomains for virtual-hosted
    buckets; without one, Amazon S3's."""
    if not endpoint_url:
        return ["https://*.amazonaws.com"]
    parts = urlsplit(endpoint_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImproperlyConfigured(
            f"AWS_S3_ENDPOINT_URL={endpoint_url!r} is not an http(s) URL"
        )
    host = parts.netloc.rsplit("@", 1)[-1]
    try:
        ipaddress.ip_address(parts.hostname)
    except ValueError:  # a name: buckets may be its subdomains
        return [f"{parts.scheme}://{host}", f"{parts.scheme}://*.{host}"]
    return [f"{parts.scheme}://{host}"]


_TILE_PLACEHOLDERS = ("{z}", "{x}", "{y}")


def env_tile_url(name: str) -> str:
    """A tile server's URL template as Leaflet reads it, e.g.
    `https://tile.example.org/{z}/{x}/{y}.png` (`{s}` for subdomains, `{r}` for
    high-resolution tiles); empty: no tile server."""
    url = os.environ.get(name, "").strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImproperlyConfigured(f"{name}={url!r} is not an http(s) URL")
    missing = [word for word in _TILE_PLACEHOLDERS if word not in url]
    if missing:
        raise ImproperlyConfigured(
            f"{name}={url!r} lacks {', '.join(missing)}: give a tile URL template "
            "such as https://tile.example.org/{z}/{x}/{y}.png"
        )
    return url


def tile_origin(url: str) -> str:
    """The origin a tile URL template's tiles come from, for the CSP: a `{s}`
    subdomain becomes a wildcard (`https://{s}.tile.example.org` ->
    `https://*.tile.example.org`)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1].replace("{s}", "*")
    return f"{parts.scheme}://{host}"
