"""Issue 9, holes 4 and 5: the attacks, run against the real app.

Mallory guesses passwords from 203.0.113.66. Alice annotates and logs in from
198.51.100.7; Bob annotates too; Carol curates (the admin site); Dave consumes the
dataset through the API; Nora has an account but no role.

Each test here failed on the code before the fix (the guesses went on, the tokens
lived forever, any account saw the previews): it only uses the login page, the API
and management commands, so it runs on either.
"""

import datetime as dt

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from tests.verification.conftest import make_user
from verification.roles import ANNOTATOR, CONSUMER, CURATOR

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

MALLORY = "203.0.113.66"
ALICE_HOME = "198.51.100.7"
LOGIN = "/accounts/login/"
TOKEN = "/api/v1/auth/token/"
LOCKED = "Too many failed logins"


def failure_limit() -> int:
    return getattr(django_settings, "AXES_FAILURE_LIMIT", 5)


def password_of(username: str) -> str:
    return f"pw-{username}-123"  # as make_user sets it


@pytest.fixture
def alice():
    return make_user("alice", ANNOTATOR)


@pytest.fixture
def bob():
    return make_user("bob", ANNOTATOR)


def log_in(client, username: str, password: str, address: str, url: str = LOGIN):
    return client.post(
        url, {"username": username, "password": password}, REMOTE_ADDR=address
    )


def ask_token(username: str, password: str, address: str, **extra):
    return APIClient().post(
        TOKEN, {"username": username, "password": password}, format="json",
        REMOTE_ADDR=address, **extra,
    )  # fmt: skip


def token_of(username: str, address: str = ALICE_HOME) -> str:
    return ask_token(username, password_of(username), address).json()["token"]


def guess_until_locked(client, username: str, url: str = LOGIN):
    """Mallory's wrong passwords, up to the limit; the last answer."""
    for n in range(failure_limit()):
        response = log_in(client, username, f"guess-{n}", MALLORY, url)
    return response


def with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def lower_rates(settings, **rates: str) -> None:
    """API throttle rates for this test only (the suite runs with huge ones)."""
    rest_framework = dict(settings.REST_FRAMEWORK)
    rest_framework["DEFAULT_THROTTLE_RATES"] = {
        **rest_framework.get("DEFAULT_THROTTLE_RATES", {}),
        **rates,
    }
    settings.REST_FRAMEWORK = rest_framework


# --- lockout on the login pages -------------------------------------------------------


def test_guessing_on_the_login_page_locks_out_even_the_right_password(client, alice):
    for n in range(failure_limit() - 1):
        assert log_in(client, "alice", f"guess-{n}", MALLORY).status_code == 200
    last_guess = log_in(client, "alice", "guess-last", MALLORY)
    assert last_guess.status_code == 429
    # Mallory finds the password now: too late, and the page says why.
    found = log_in(client, "alice", password_of("alice"), MALLORY)
    assert found.status_code == 429
    page = found.content.decode()
    assert LOCKED in page and "try again in 15 minutes" in page
    assert "administrator" in page
    assert client.get("/").status_code == 302  # not logged in


def test_a_lockout_stops_neither_the_user_elsewhere_nor_another_user(
    client, alice, bob
):
    guess_until_locked(client, "alice")
    assert log_in(client, "alice", password_of("alice"), MALLORY).status_code == 429
    # Counting per username and address: Mallory cannot lock Alice out of her
    # own desk, nor lock out everyone who shares his address.
    assert log_in(client, "alice", password_of("alice"), ALICE_HOME).status_code == 302
    client.logout()
    assert log_in(client, "bob", password_of("bob"), MALLORY).status_code == 302


def test_axes_reset_username_unlocks_the_user(client, alice):
    guess_until_locked(client, "alice")
    assert log_in(client, "alice", password_of("alice"), MALLORY).status_code == 429
    call_command("axes_reset_username", "alice")
    assert log_in(client, "alice", password_of("alice"), MALLORY).status_code == 302


def test_the_admin_login_locks_out_too(client):
    make_user("carol", CURATOR)
    admin_login = "/admin/login/"
    assert guess_until_locked(client, "carol", admin_login).status_code == 429
    found = log_in(client, "carol", password_of("carol"), MALLORY, admin_login)
    assert found.status_code == 429
    assert LOCKED in found.content.decode()
    assert client.get("/admin/").status_code == 302


# --- lockout and throttle on the token endpoint ---------------------------------------


def test_guessing_on_the_token_endpoint_locks_out_with_a_json_429(alice):
    for n in range(failure_limit() - 1):
        assert ask_token("alice", f"guess-{n}", MALLORY).status_code == 400
    assert ask_token("alice", "guess-last", MALLORY).status_code == 429
    found = ask_token("alice", password_of("alice"), MALLORY)
    assert found.status_code == 429
    assert LOCKED in found.json()["error"]
    assert int(found["Retry-After"]) == 15 * 60
    assert "token" not in found.json()
    # Alice, from her own address, still gets her token.
    assert ask_token("alice", password_of("alice"), ALICE_HOME).status_code == 201


def test_failures_on_the_page_and_the_api_count_together(client, alice):
    for n in range(failure_limit() - 1):
        log_in(client, "alice", f"guess-{n}", MALLORY)
    assert ask_token("alice", "guess-last", MALLORY).status_code == 429
    assert log_in(client, "alice", password_of("alice"), MALLORY).status_code == 429


def test_the_token_endpoint_is_throttled_per_address_whatever_the_username(settings):
    lower_rates(settings, auth="3/minute")
    # Usernames that do not exist: no lockout, only the throttle can stop this.
    for n in range(3):
        assert ask_token(f"user{n}", "guess", MALLORY).status_code == 400
    throttled = ask_token("user9", "guess", MALLORY)
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert throttled.json()["error"]
    assert ask_token("user9", "guess", ALICE_HOME).status_code == 400


def test_a_user_is_throttled_per_user_from_any_address(settings):
    make_user("dave", CONSUMER)
    make_user("carol", CURATOR)
    dave, carol = with_token(token_of("dave")), with_token(token_of("carol"))
    lower_rates(settings, user="3/minute")
    for _ in range(3):
        assert dave.get("/api/v1/scenes/").status_code == 200
    throttled = dave.get("/api/v1/scenes/", REMOTE_ADDR=MALLORY)
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert carol.get("/api/v1/scenes/").status_code == 200


# --- tokens that outlive their password or their time ---------------------------------


@pytest.mark.parametrize("change", ["create_user", "set_password"])
def test_a_token_dies_when_the_password_changes(change):
    dave = make_user("dave", CONSUMER)
    key = token_of("dave")
    assert with_token(key).get("/api/v1/scenes/").status_code == 200
    if change == "create_user":
        call_command("create_user", "dave", "--password", "a-new-password")
    else:
        dave.set_password("a-new-password")
        dave.save()
    refused = with_token(key).get("/api/v1/scenes/")
    assert refused.status_code == 401
    assert "password changed" in refused.json()["error"]


def test_an_expired_token_is_refused(settings, monkeypatch):
    settings.API_TOKEN_TTL_DAYS = 1
    make_user("dave", CONSUMER)
    key = token_of("dave")
    assert with_token(key).get("/api/v1/scenes/").status_code == 200
    two_days_later = timezone.now() + dt.timedelta(days=2)
    monkeypatch.setattr(timezone, "now", lambda: two_days_later)
    refused = with_token(key).get("/api/v1/scenes/")
    assert refused.status_code == 401
    assert "expired" in refused.json()["error"]


# --- previews for roles only ----------------------------------------------------------


@pytest.fixture
def preview(media_root) -> str:
    path = media_root / "scenes" / "1" / "0_0.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG not really")
    return "/media/scenes/1/0_0.png"


def test_previews_go_to_the_roles_only(client, alice, preview):
    nora = make_user("nora", None)
    client.force_login(nora)
    assert client.get(preview).status_code == 403
    assert with_token(token_of("nora")).get(preview).status_code == 403
    client.force_login(alice)
    assert client.get(preview).status_code == 200
    make_user("dave", CONSUMER)
    assert with_token(token_of("dave")).get(preview).status_code == 200


def test_the_login_page_takes_a_form_by_post_only(client, alice):
    """A PUT is no second way in: 405, and no session comes of it."""
    answer = client.put(
        LOGIN,
        f"username=alice&password={password_of('alice')}",
        content_type="application/x-www-form-urlencoded",
        REMOTE_ADDR=ALICE_HOME,
    )
    assert answer.status_code == 405
    assert "_auth_user_id" not in client.session
    assert log_in(client, "alice", password_of("alice"), ALICE_HOME).status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)
