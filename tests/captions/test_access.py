"""Abilities (captions/access.py): granted by the roles verification registers, and
refused to everyone when nothing grants them."""

import pytest
from django.contrib.auth.models import AnonymousUser

from captions import access
from tests.verification.conftest import make_user
from verification.roles import ANNOTATOR, CONSUMER, CURATOR


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "curate", "read"),
    [(CURATOR, True, True), (CONSUMER, False, True), (ANNOTATOR, False, False)],
)
def test_each_role_has_the_abilities_verification_grants_it(role, curate, read):
    user = make_user(role, role)
    assert access.may(user, access.CURATE) is curate
    assert access.may(user, access.READ_DATASET) is read


def test_anonymous_has_no_ability():
    assert not access.may(AnonymousUser(), access.CURATE)
    assert not access.may(AnonymousUser(), access.READ_DATASET)


@pytest.mark.django_db
def test_an_ability_nobody_registered_is_refused_even_to_a_superuser(
    monkeypatch, django_user_model
):
    root = django_user_model.objects.create_superuser("root", password="x")
    assert access.may(root, access.CURATE)
    monkeypatch.setattr(access, "_rules", {})
    assert not access.may(root, access.CURATE)
    assert not access.may(root, access.READ_DATASET)


def test_an_unknown_ability_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown ability"):
        access.may(AnonymousUser(), "delete_everything")
    with pytest.raises(ValueError, match="unknown ability"):
        access.register("delete_everything", lambda user: True)
