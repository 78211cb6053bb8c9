"""Personas of the captions admin tests.

Alice curates the data: staff with the captions app's permissions. Bob has an account
but is not staff. Carol is not logged in. Dave is staff with no captions permission.
"""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from captions import tasks


@pytest.fixture
def alice(django_user_model):
    user = django_user_model.objects.create_user("alice", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="captions")
    )
    return user


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(django_user_model) -> Client:
    client = Client()
    client.force_login(django_user_model.objects.create_user("bob"))
    return client


@pytest.fixture
def carol_client() -> Client:
    return Client()


@pytest.fixture
def dave_client(django_user_model) -> Client:
    client = Client()
    client.force_login(django_user_model.objects.create_user("dave", is_staff=True))
    return client


@pytest.fixture
def enqueued_chunks(monkeypatch) -> list[tuple[int, int]]:
    """(job id, chunk index) sent to the generation task, instead of a broker."""
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(
        tasks.generate_chunk,
        "delay",
        lambda job_id, index: sent.append((job_id, index)),
    )
    return sent
