from django.conf import settings
from django.db import models

from captions.models import Caption


class Revision(models.Model):
    """One change to a caption: who, when, what it was before and after."""

    class Action(models.TextChoices):
        APPROVE = "approve", "Approved"
        EDIT = "edit", "Edited"
        REJECT = "reject", "Rejected"
        REVERT = "revert", "Reverted"

    caption = models.ForeignKey(
        Caption, on_delete=models.CASCADE, related_name="revisions"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=8, choices=Action.choices)
    status_before = models.CharField(max_length=10)
    status_after = models.CharField(max_length=10)
    text_before = models.TextField()
    text_after = models.TextField()
    version_after = models.PositiveIntegerField()
    reason = models.CharField(max_length=500, blank=True)
    seconds_spent = models.FloatField(null=True, blank=True)
    # How far the text after this change is from what the model wrote: 0 kept as
    # written, 1 rewritten (1 - difflib word ratio). The dashboard's edit rate.
    edit_distance = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"{self.action} caption {self.caption_id} (v{self.version_after})"


class ApiToken(models.Model):
    """A key a script sends as `Authorization: Token <key>` (verification/tokens.py).

    Only the key's SHA-256 is kept: the key itself is shown once, when it is made. A
    token stops working at `expires_at`, when it is revoked (deleted), and when its
    user's password changes, whichever way it changes: `password_fingerprint` is the
    hash Django's sessions die by (`get_session_auth_hash`) taken at creation.
    """

    key_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # To the hour: a token's requests write at most once an hour. Its creation (a
    # login with the password) counts as a use.
    last_used_at = models.DateTimeField()
    password_fingerprint = models.CharField(max_length=128)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"token {self.pk}{label} of user {self.user_id}"
