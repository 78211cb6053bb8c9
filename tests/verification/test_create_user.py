import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_create_user_makes_a_superuser_that_can_log_in(client):
    call_command(
        "create_user", "alice", "--password", "s3cret-pass", "--superuser",
        stdout=io.StringIO(),
    )  # fmt: skip
    alice = get_user_model().objects.get(username="alice")
    assert alice.is_superuser and alice.is_staff
    assert client.login(username="alice", password="s3cret-pass")


def test_create_user_again_resets_the_password_without_a_second_user():
    call_command("create_user", "bob", "--password", "first-pass", stdout=io.StringIO())
    out = io.StringIO()
    call_command("create_user", "bob", "--password", "second-pass", stdout=out)
    assert "Updated user 'bob'" in out.getvalue()
    bob = get_user_model().objects.get(username="bob")
    assert bob.check_password("second-pass")
    assert not bob.is_staff
    assert get_user_model().objects.count() == 1


def test_create_user_refuses_a_short_password_and_creates_nothing():
    with pytest.raises(CommandError, match="at least 8 characters"):
        call_command("create_user", "carol", "--password", "short")
    assert not get_user_model().objects.filter(username="carol").exists()
