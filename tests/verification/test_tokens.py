"""API tokens (verification/tokens.py, verification/api_tokens.py).

Dave consumes the dataset through the API; Alice annotates and Carol curates, each
with tokens of their own; Root is a superuser. The attacks (guessing, throttles) are
in tests/security/test_password_guessing.py.
"""

import datetime as dt
import hashlib

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from verification.models import ApiToken
from verification.tokens import token_create, token_revoke

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

TOKEN = "/api/v1/auth/token/"
TOKENS = "/api/v1/auth/tokens/"


def with_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


# --- creation -------------------------------------------------------------------------


def test_a_token_keeps_only_the_hash_of_its_key(dave):
    token, key = token_create(user=dave, name="laptop")
    assert len(key) >= 40
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert key not in {str(value) for value in stored.values()}
    assert with_key(key).get(TOKENS).status_code == 200


def test_a_token_from_the_api_is_shown_once_and_listed_without_its_key(dave):
    made = APIClient().post(
        TOKEN, {"username": "dave", "password": "pw-dave-123", "name": "gpu box"},
        format="json",
    )  # fmt: skip
    assert made.status_code == 201
    key = made.json()["token"]
    listed = with_key(key).get(TOKENS).json()["results"]
    assert [row["name"] for row in listed] == ["gpu box"]
    assert key not in str(listed)
    assert set(listed[0]) == {
        "id", "name", "created_at", "expires_at", "last_used_at", "status",
    }  # fmt: skip


def test_a_token_expires_api_token_ttl_days_after_it_is_made(settings, dave):
    settings.API_TOKEN_TTL_DAYS = 30
    token, _ = token_create(user=dave)
    assert token.expires_at is not None
    lifetime = token.expires_at - token.created_at
    assert abs(lifetime - dt.timedelta(days=30)) < dt.timedelta(seconds=5)


def test_a_ttl_of_zero_means_a_token_never_expires(settings, dave):
    settings.API_TOKEN_TTL_DAYS = 0
    token, key = token_create(user=dave)
    assert token.expires_at is None
    assert with_key(key).get(TOKENS).json()["results"][0]["status"] == "active"


def test_an_expired_token_is_refused_and_says_so(dave):
    token, key = token_create(user=dave)
    ApiToken.objects.filter(pk=token.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    response = with_key(key).get(TOKENS)
    assert response.status_code == 401
    assert response.json()["error"].startswith("token expired")
    assert response["WWW-Authenticate"] == "Token"


# --- password changes -----------------------------------------------------------------


def test_resetting_the_password_with_create_user_kills_the_token(dave):
    _, key = token_create(user=dave)
    call_command("create_user", "dave", "--password", "a-new-password")
    response = with_key(key).get(TOKENS)
    assert response.status_code == 401
    assert "the password changed" in response.json()["error"]


def test_set_password_kills_the_token_whatever_calls_it(dave):
    # The admin's password form and `changepassword` both come down to this.
    _, key = token_create(user=dave)
    dave.set_password("another-password")
    dave.save()
    assert with_key(key).get(TOKENS).status_code == 401


def test_a_new_token_after_the_password_change_works(dave):
    _, old_key = token_create(user=dave)
    dave.set_password("another-password")
    dave.save()
    made = APIClient().post(
        TOKEN, {"username": "dave", "password": "another-password"}, format="json"
    )
    new_key = made.json()["token"]
    listed = with_key(new_key).get(TOKENS).json()["results"]
    assert sorted(row["status"] for row in listed) == ["active", "password_changed"]
    assert with_key(old_key).get(TOKENS).status_code == 401


def test_an_inactive_users_token_is_refused(dave):
    _, key = token_create(user=dave)
    get_user_model().objects.filter(pk=dave.pk).update(is_active=False)
    response = with_key(key).get(TOKENS)
    assert response.status_code == 401
    assert response.json()["error"] == "user inactive or deleted"


# --- revoking -------------------------------------------------------------------------


def test_a_consumer_revokes_the_token_he_calls_with(dave):
    _, key = token_create(user=dave)
    _, other_key = token_create(user=dave)
    assert with_key(key).delete(TOKEN).status_code == 204
    assert with_key(key).get(TOKENS).status_code == 401
    assert with_key(other_key).get(TOKENS).status_code == 200


def test_a_session_has_no_token_to_revoke(client, dave):
    client.force_login(dave)
    response = client.delete(TOKEN)
    assert response.status_code == 400
    assert "Authorization: Token" in response.json()["error"]


def test_a_user_revokes_one_of_their_tokens_by_id(alice):
    _, key = token_create(user=alice)
    laptop, laptop_key = token_create(user=alice, name="laptop")
    assert with_key(key).delete(f"{TOKENS}{laptop.pk}/").status_code == 204
    assert with_key(laptop_key).get(TOKENS).status_code == 401
    assert not ApiToken.objects.filter(pk=laptop.pk).exists()


def test_nobody_revokes_or_sees_another_users_token(alice, dave):
    alices, alice_key = token_create(user=alice)
    _, dave_key = token_create(user=dave)
    response = with_key(dave_key).delete(f"{TOKENS}{alices.pk}/")
    assert response.status_code == 404
    assert with_key(alice_key).get(TOKENS).status_code == 200
    listed = with_key(dave_key).get(TOKENS).json()["results"]
    assert alices.pk not in [row["id"] for row in listed]
    with pytest.raises(ApiToken.DoesNotExist):
        token_revoke(user=dave, token_id=alices.pk)


@pytest.mark.parametrize("token_id", ["999999", "99999999999999999999999"])
def test_revoking_a_token_that_does_not_exist_is_a_404(dave, token_id):
    _, key = token_create(user=dave)
    assert with_key(key).delete(f"{TOKENS}{token_id}/").status_code == 404


# --- listing and bookkeeping ----------------------------------------------------------


def test_the_list_shows_each_tokens_state(dave):
    _, key = token_create(user=dave, name="current")
    expired, _ = token_create(user=dave, name="old")
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    listed = with_key(key).get(TOKENS).json()["results"]
    assert {row["name"]: row["status"] for row in listed} == {
        "current": "active",
        "old": "expired",
    }


def test_the_list_costs_the_same_queries_whatever_its_length(
    dave, django_assert_max_num_queries
):
    _, key = token_create(user=dave)
    client = with_key(key)
    # token with its user, the page of tokens
    with django_assert_max_num_queries(2):
        client.get(TOKENS)
    for n in range(10):
        token_create(user=dave, name=f"machine {n}")
    with django_assert_max_num_queries(2):
        assert len(client.get(TOKENS).json()["results"]) == 11


def test_last_used_is_written_at_most_once_an_hour(dave, django_assert_num_queries):
    token, key = token_create(user=dave)
    client = with_key(key)
    with django_assert_num_queries(2):  # the token, the page
        client.get(TOKENS)
    two_hours_ago = timezone.now() - dt.timedelta(hours=2)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=two_hours_ago)
    with django_assert_num_queries(3):  # and one guarded UPDATE
        client.get(TOKENS)
    token.refresh_from_db()
    assert token.last_used_at > two_hours_ago + dt.timedelta(hours=1)
    with django_assert_num_queries(2):
        client.get(TOKENS)


def test_anonymous_callers_manage_no_tokens():
    assert APIClient().get(TOKENS).status_code == 401
    assert APIClient().delete(TOKEN).status_code == 401
    assert APIClient().delete(f"{TOKENS}1/").status_code == 401


# --- the admin ------------------------------------------------------------------------


def test_curators_see_neither_tokens_nor_login_failures_in_the_admin(
    client, carol, dave
):
    token, _ = token_create(user=dave)
    client.force_login(carol)
    index = client.get("/admin/").content.decode()
    assert "/admin/verification/apitoken/" not in index
    assert "/admin/axes/" not in index
    for url in (
        "/admin/verification/apitoken/",
        f"/admin/verification/apitoken/{token.pk}/change/",
        f"/admin/verification/apitoken/{token.pk}/delete/",
        "/admin/axes/accessattempt/",
        "/admin/axes/accessfailurelog/",
    ):
        assert client.get(url).status_code == 403, url
    assert not carol.has_perm("verification.view_apitoken")


def test_a_superuser_revokes_tokens_in_the_admin_and_never_sees_a_key(client, dave):
    root = get_user_model().objects.create_superuser("root", password="root-pass-1")
    token, key = token_create(user=dave, name="laptop")
    client.force_login(root)
    page = client.get(f"/admin/verification/apitoken/{token.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "laptop" in html
    assert key not in html and token.key_hash not in html
    assert client.get("/admin/verification/apitoken/add/").status_code == 403
    client.post(
        f"/admin/verification/apitoken/{token.pk}/delete/", {"post": "yes"}
    )  # fmt: skip
    assert with_key(key).get(TOKENS).status_code == 401
