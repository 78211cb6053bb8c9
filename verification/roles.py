"""The three roles, as groups: what each may do (issue 4).

- annotator: reviews captions in the queue (approve, edit, reject, skip);
- curator: everything an annotator does, plus the admin site (ingest, jobs,
  releases), queue filters and reverts; curators are staff;
- consumer: reads and exports through the API.
"""

from typing import Any

from django.contrib.auth.models import Group

from captions import access

ANNOTATOR, CURATOR, CONSUMER = "annotator", "curator", "consumer"
ROLES = (ANNOTATOR, CURATOR, CONSUMER)
# Curators get every permission of these apps' models in the admin, except on these
# models (app label, model): other people's credentials are for superusers only.
CURATOR_APPS = ("captions", "verification")
SUPERUSER_ONLY_MODELS = (("verification", "apitoken"),)


def has_role(user: Any, *roles: str) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return not role_names(user).isdisjoint(roles)


def role_names(user: Any) -> frozenset[str]:
    """The user's groups, read once per user object: a page asks several times
    (may review? is curator?), and the user object lives for one request."""
    cached = getattr(user, "_role_names", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._role_names = cached
    return cached


def may_review(user: Any) -> bool:
    return has_role(user, ANNOTATOR, CURATOR)


def is_curator(user: Any) -> bool:
    return has_role(user, CURATOR)


def reads_every_verdict(user: Any) -> bool:
    """Curators (the admin) and consumers (the dataset API) can read any caption's
    verdict, so they are never offered a blind item (QA, gold): they cannot be blind."""
    return has_role(user, CURATOR, CONSUMER)


def may_see_patches(user: Any) -> bool:
    """A role, or staff the admin shows patches to (the patch list's thumbnails)."""
    return has_role(user, *ROLES) or user.has_perm("captions.view_patch")


def grant_abilities() -> None:
    """What each role may do in the captions app (captions/access.py)."""
    access.register(access.CURATE, is_curator)
    access.register(access.READ_DATASET, lambda user: has_role(user, CONSUMER, CURATOR))


def ensure_groups() -> dict[str, Group]:
    """Create the role groups and give curators the admin permissions they need."""
    from django.contrib.auth.models import Permission

    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ROLES}
    curator_permissions = Permission.objects.filter(
        content_type__app_label__in=CURATOR_APPS
    )
    for app_label, model in SUPERUSER_ONLY_MODELS:
        curator_permissions = curator_permissions.exclude(
            content_type__app_label=app_label, content_type__model=model
        )
    groups[CURATOR].permissions.set(curator_permissions)
    return groups
