"""Personas of the captions admin tests.

Alice curates the data: staff with the captions app's permissions. Bob has an account
but is not staff. Carol is not logged in. Dave is staff with no captions permission.
"""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from tests.fake_openai import FakeOpenAI


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
def llm_endpoint(settings, monkeypatch) -> Callable[[FakeOpenAI], str]:
    """`llm_endpoint(server)` configures a loopback server as an LLM endpoint, named
    "fake" unless told, and returns its name.

    Both where this process reads it (`settings.LLM_ENDPOINTS`, and the key's
    variable) and where the Celery workers a test starts read it: their settings
    parse `LLM_ENDPOINTS` from the environment they inherit. Only the endpoints
    configured here exist for the test.
    """
    configured: dict[str, dict] = {}

    def configure(server: FakeOpenAI, name: str = "fake") -> str:
        variable = f"{name.upper()}_LLM_KEY" if server.api_key else ""
        if variable:
            monkeypatch.setenv(variable, server.api_key or "")
        configured[name] = {"base_url": server.base_url, "key_variable": variable}
        settings.LLM_ENDPOINTS = dict(configured)
        monkeypatch.setenv(
            "LLM_ENDPOINTS",
            ", ".join(
                f"{endpoint} {entry['base_url']} {entry['key_variable']}".strip()
                for endpoint, entry in configured.items()
            ),
        )
        return name

    return configure
