from django.conf import settings
from django.core.cache import cache
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from captions.models import Caption


class Revision(models.Model):
    """One change to a caption: who, when, what it was before and after."""

    class Action(models.TextChoices):
        APPROVE = "approve", "Approved"
        EDIT = "edit", "Edited"
        REJECT = "reject", "Rejected"
        REVERT = "revert", "Reverted"
        # Curator actions of the quality loop (issue 12): a QA disagreement settled,
        # a caption marked gold (text and status unchanged), a caption replaced by a
        # regeneration job (unchanged: the new caption goes to the queue).
        ADJUDICATE = "adjudicate", "Adjudicated"
        GOLD = "gold", "Marked gold"
        REGENERATE = "regenerate", "Regenerated"

    caption = models.ForeignKey(
        Caption, on_delete=models.CASCADE, related_name="revisions"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=12, choices=Action.choices)
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


QUALITY_CACHE_KEY = "verification:quality-settings"
QUALITY_CACHE_SECONDS = 30


class QualitySettings(models.Model):
    """The share of verified captions offered for a second opinion and of gold items
    mixed into annotators' queues: one row, set by curators (`current()`). A job's
    own `qa_rate` wins over the global one."""

    qa_rate = models.FloatField(
        default=0.10,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of approved or edited captions a second annotator reviews "
        "blind (0 to 1).",
    )
    gold_rate = models.FloatField(
        default=0.02,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text="Share of an annotator's queue that is gold items (0 to 0.5).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "quality settings"
        verbose_name_plural = "quality settings"

    def __str__(self) -> str:
        return f"QA {self.qa_rate:.0%}, gold {self.gold_rate:.0%}"

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        cache.delete(QUALITY_CACHE_KEY)

    @classmethod
    def current(cls) -> "QualitySettings":
        """The rates, read at most every `CACHE_SECONDS` per process: each claim of
        the queue asks. A change here is seen at once; in other processes within
        that time."""
        found = cache.get(QUALITY_CACHE_KEY)
        if found is None:
            found = cls.objects.order_by("pk").first() or cls.objects.create()
            cache.set(QUALITY_CACHE_KEY, found, QUALITY_CACHE_SECONDS)
        return found


class Verdict(models.TextChoices):
    APPROVE = "approve", "Approve"
    EDIT = "edit", "Edit"
    REJECT = "reject", "Reject"


class BlindAnswer(models.Model):
    """One person's answer on a caption shown to them as if new (blind): what they
    did, the text they kept and how it compares with the text it is judged against
    (the first reviewer's for QA, the gold text for gold)."""

    action = models.CharField(max_length=8, choices=Verdict.choices, blank=True)
    text = models.TextField(blank=True)
    reason = models.CharField(max_length=500, blank=True)
    seconds_spent = models.FloatField(null=True, blank=True)
    verdict_agrees = models.BooleanField(null=True)
    # Word edit distance (0 same words, 1 none kept) to the text compared against.
    text_distance = models.FloatField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class Leased(models.Model):
    """A queue item one person holds at a time, as a pending caption is held."""

    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    claim_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class QaReview(BlindAnswer, Leased):
    """A second opinion on a verified caption: offered blind to another annotator
    (the text the first reviewer was shown, no verdict, no history), then compared.
    A disagreement waits for a curator's adjudication."""

    class State(models.TextChoices):
        OPEN = "open", "Waiting for a second reviewer"
        AGREED = "agreed", "Agreed"
        DISAGREED = "disagreed", "Disagreed: to adjudicate"
        ADJUDICATED = "adjudicated", "Adjudicated"

    class Origin(models.TextChoices):
        RATE = "rate", "QA rate"
        STRATIFIED = "stratified", "Stratified by class"

    caption = models.OneToOneField(
        Caption, on_delete=models.CASCADE, related_name="qa_review"
    )
    origin = models.CharField(max_length=10, choices=Origin.choices, default="rate")
    state = models.CharField(
        max_length=11, choices=State.choices, default=State.OPEN, db_index=True
    )
    shown_text = models.TextField(help_text="What the first reviewer was shown")
    first_revision = models.ForeignKey(
        Revision, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_action = models.CharField(max_length=8, choices=Verdict.choices)
    first_text = models.TextField()
    second_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    adjudicated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    adjudicated_at = models.DateTimeField(null=True, blank=True)
    # first, second or third (the curator's own text)
    adjudication = models.CharField(max_length=6, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "QA review"
        indexes = [
            # The queue walks the open reviews oldest first and stops at the first
            # one free (verification/queue.py): no sort of every open row per claim.
            models.Index(
                fields=["created_at", "id"],
                condition=models.Q(state="open"),
                name="qa_open_in_queue_order",
            ),
            models.Index(fields=["claimed_by", "claim_expires_at"]),
            models.Index(fields=["second_reviewer", "state"]),
            models.Index(fields=["first_reviewer", "state"]),
        ]

    def __str__(self) -> str:
        return f"QA of caption {self.caption_id} ({self.state})"


class GoldCaption(Leased):
    """A verified caption whose verdict and text are the answer: shown, unannounced,
    to annotators as the model wrote it, their answers scored against it."""

    caption = models.OneToOneField(
        Caption, on_delete=models.CASCADE, related_name="gold"
    )
    action = models.CharField(max_length=8, choices=Verdict.choices)
    text = models.TextField(help_text="The gold text")
    shown_text = models.TextField(help_text="What annotators are shown")
    active = models.BooleanField(default=True)
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    marked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "gold caption"
        indexes = [models.Index(fields=["claimed_by", "claim_expires_at"])]

    def __str__(self) -> str:
        return f"gold caption {self.caption_id} ({self.action})"


class GoldAnswer(BlindAnswer):
    """One annotator's answer on a gold item, scored."""

    gold = models.ForeignKey(
        GoldCaption, on_delete=models.CASCADE, related_name="answers"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["gold", "user"], name="one_gold_answer")
        ]
        indexes = [models.Index(fields=["user", "answered_at"])]

    def __str__(self) -> str:
        return f"answer of user {self.user_id} on gold {self.gold_id}"
