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
    assert client.login(username="cur", password="cur-pass-1")
    assert client.get("/admin/captions/scene/").status_code == 200
    client.logout()
    assert client.login(username="ann", password="ann-pass-1")
    assert client.get("/admin/captions/scene/").status_code == 302
