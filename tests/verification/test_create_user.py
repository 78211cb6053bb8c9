import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from verification.tokens import token_create

pytestmark = pytest.mark.django_db


def log_in(client, username: str, password: str) -> bool:
    """Through the login page, as a person does (and as django-axes counts)."""
    response = client.post(
        "/accounts/login/", {"username": username, "password": password}
    )
    return response.status_code == 302


def test_create_user_makes_a_superuser_that_can_log_in(client):
    call_command(
        "create_user", "alice", "--password", "s3cret-pass", "--superuser",
        stdout=io.StringIO(),
    )  # fmt: skip
    alice = get_user_model().objects.get(username="alice")
    assert alice.is_superuser and alice.is_staff
    assert log_in(client, "alice", "s3cret-pass")


def test_create_user_again_resets_the_password_without_a_second_user():
    call_command("create_user", "bob", "--password", "first-pass", stdout=io.StringIO())
    out = io.StringIO()
    call_command("create_user", "bob", "--password", "second-pass", stdout=out)
    assert "Updated user 'bob'" in out.getvalue()
    bob = get_user_model().objects.get(username="bob")
    assert bob.check_password("second-pass")
    assert not bob.is_staff
    assert get_user_model().objects.count() == 1


def test_create_user_resetting_a_password_ends_the_users_tokens_and_sessions(client):
    call_command("create_user", "bob", "--password", "first-pass", stdout=io.StringIO())
    bob = get_user_model().objects.get(username="bob")
    _, key = token_create(user=bob)
    assert log_in(client, "bob", "first-pass")
    out = io.StringIO()
    call_command("create_user", "bob", "--password", "second-pass", stdout=out)
    assert "API tokens no longer work" in out.getvalue()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    refused = api.get("/api/v1/auth/tokens/")
    assert refused.status_code == 401
    assert "the password changed" in refused.json()["error"]
    # The browser session made with the old password ends too (Django's own rule).
    assert client.get("/").status_code == 302


def test_create_user_refuses_a_short_password_and_creates_nothing():
    with pytest.raises(CommandError, match="at least 8 characters"):
        call_command("create_user", "carol", "--password", "short")
    assert not get_user_model().objects.filter(username="carol").exists()


@pytest.mark.parametrize(
    ("role", "staff"), [("annotator", False), ("curator", True), ("consumer", False)]
)
def test_create_user_with_a_role_puts_them_in_its_group(role, staff):
    call_command(
        "create_user", "erin", "--password", "erin-pass-1", "--role", role,
        stdout=io.StringIO(),
    )  # fmt: skip
    erin = get_user_model().objects.get(username="erin")
    assert list(erin.groups.values_list("name", flat=True)) == [role]
    assert erin.is_staff is staff


def test_a_curator_may_use_the_admin_site_and_an_annotator_may_not(client):
    call_command("create_user", "cur", "--password", "cur-pass-1", "--role", "curator",
                 stdout=io.StringIO())  # fmt: skip
    call_command("create_user", "ann", "--password", "ann-pass-1", "--role",
                 "annotator", stdout=io.StringIO())  # fmt: skip
    assert log_in(client, "cur", "cur-pass-1")
    assert client.get("/admin/captions/scene/").status_code == 200
    client.logout()
    assert log_in(client, "ann", "ann-pass-1")
    assert client.get("/admin/captions/scene/").status_code == 302
