"""How much each person reviews and how well (issue 12, item 4): their reviews, edit
rate and time per item; how often second reviewers agreed with their verdicts; how
their answers on gold items scored. Shares come with their 95% Wilson interval: a
person's QA and gold samples are small.

Read by the dashboard (last 14 days; an annotator sees their own row) and
`GET /api/v1/quality/annotators/` (all time). Only counts and shares leave here:
never a gold text, nor which items were gold.
"""

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from captions.proportions import wilson_interval
from verification.models import GoldAnswer, QaReview, Revision
from verification.roles import is_curator

# A review is a person's verdict on a caption in the queue; curators' reverts,
# adjudications, gold marks and regenerations are not.
REVIEW_ACTIONS = (
    Revision.Action.APPROVE,
    Revision.Action.EDIT,
    Revision.Action.REJECT,
)
# Per person (a user id; None for deleted users): the figures of one query.
_ByPerson = dict[int | None, dict[str, Any]]


def annotator_quality(
    *,
    only_user: Any = None,
    since: dt.datetime | None = None,
    gold_before: dt.datetime | None = None,
) -> list[dict]:
    """One row per person with reviews, answered second opinions of their verdicts,
    second opinions or gold answers (since `since`; only `only_user`'s if given),
    most reviews first; `reviews_per_day` maps dates to their reviews. Four grouped
    queries and the names, whatever the number of reviews; none joins the users'
    table. `gold_before`: count only gold answers given before then (`gold_lag`)."""
    scope = {"only_user": only_user, "since": since}
    gold = _scoped(GoldAnswer, "user", **scope)
    if gold_before is not None:
        gold = gold.filter(answered_at__lt=gold_before)
    figures = {
        "reviews": _reviews(_scoped(Revision, "user", when="created_at", **scope)),
        "first": _agreement(_scoped(QaReview, "first_reviewer", **scope)),
        "second": _second_opinions(_scoped(QaReview, "second_reviewer", **scope)),
        "gold": _gold(gold),
    }
    people: set[int | None] = set().union(*figures.values())
    names = _usernames(person for person in people if person is not None)
    rows = [
        _row(
            person,
            names.get(person),
            {kind: found.get(person, {}) for kind, found in figures.items()},
        )
        for person in people
    ]
    return sorted(rows, key=lambda row: (-row["reviews"], row["username"] or ""))


def gold_lag(user: Any, now: dt.datetime) -> dt.datetime | None:
    """What an annotator's own gold figures count up to: the answers of earlier days
    only. Counts that moved with each answer would tell them which item was gold,
    and whether they got it right (docs/quality.md). Curators see all."""
    if is_curator(user):
        return None
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _scoped(
    model: Any, person: str, *, only_user: Any, since: dt.datetime | None,
    when: str = "answered_at",
) -> QuerySet:  # fmt: skip
    """`model`'s rows in scope, to group by `person` (as `who`). QA reviews and gold
    answers count once answered, by when they were answered."""
    rows = model.objects.all()
    if when == "answered_at":
        rows = rows.filter(answered_at__isnull=False)
    if only_user is not None:
        rows = rows.filter(**{person: only_user})
    if since is not None:
        rows = rows.filter(**{f"{when}__gte": since})
    return rows.values(who=F(f"{person}_id")).order_by()


def _by_person(rows: QuerySet) -> _ByPerson:
    return {row.pop("who"): row for row in rows}


def _reviews(rows: QuerySet) -> _ByPerson:
    """Totals and reviews per day, from one scan of the revisions grouped by person
    and day (the dashboard's sparklines): the means are summed, then divided."""
    per_day = (
        rows.filter(action__in=REVIEW_ACTIONS)
        .values("who", day=TruncDate("created_at"))
        .annotate(
            reviews=Count("id"),
            edits=Count("id", filter=Q(action=Revision.Action.EDIT)),
            edit_sum=Sum("edit_distance"),
            edit_n=Count("edit_distance"),
            seconds_sum=Sum("seconds_spent"),
            seconds_n=Count("seconds_spent"),
        )
    )
    totals: dict[int | None, Counter] = {}
    days: dict[int | None, dict[dt.date, int]] = {}
    for row in per_day:
        who, day = row.pop("who"), row.pop("day")
        days.setdefault(who, {})[day] = row["reviews"]
        totals.setdefault(who, Counter()).update(
            {key: value or 0 for key, value in row.items()}
        )
    return {
        who: {
            "reviews": person["reviews"],
            "edits": person["edits"],
            "edit_rate": _mean(person["edit_sum"], person["edit_n"]),
            "seconds_per_item": _mean(person["seconds_sum"], person["seconds_n"]),
            "reviews_per_day": days[who],
        }
        for who, person in totals.items()
    }


def _mean(total: float, count: int) -> float | None:
    return total / count if count else None


def _agreement(rows: QuerySet) -> _ByPerson:
    """Of a person's verdicts that a second reviewer answered, how many agreed: a
    disagreement counts against them even once a curator has adjudicated it."""
    return _by_person(
        rows.annotate(
            answered=Count("id"),
            agreed=Count("id", filter=Q(state=QaReview.State.AGREED)),
        )
    )


def _second_opinions(rows: QuerySet) -> _ByPerson:
    return _by_person(rows.annotate(second_opinions=Count("id")))


def _gold(rows: QuerySet) -> _ByPerson:
    # The text distance is kept for edits only: its mean is over their edits.
    return _by_person(
        rows.annotate(
            answers=Count("id"),
            correct=Count("id", filter=Q(verdict_agrees=True)),
            text_distance=Avg("text_distance"),
        )
    )


def _usernames(people: Iterable[int]) -> dict[int | None, str]:
    return dict(
        get_user_model()
        .objects.filter(pk__in=list(people))
        .values_list("pk", "username")
    )


def _row(person: int | None, username: str | None, figures: dict[str, dict]) -> dict:
    reviews, first, gold = figures["reviews"], figures["first"], figures["gold"]
    answered, agreed = first.get("answered", 0), first.get("agreed", 0)
    answers, correct = gold.get("answers", 0), gold.get("correct", 0)
    return {
        "user": person,
        "username": username,
        "reviews": reviews.get("reviews", 0),
        "edits": reviews.get("edits", 0),
        "edit_rate": reviews.get("edit_rate"),
        "seconds_per_item": reviews.get("seconds_per_item"),
        "reviews_per_day": reviews.get("reviews_per_day", {}),
        "second_opinions": figures["second"].get("second_opinions", 0),
        "agreement_n": answered,
        "agreement_agreed": agreed,
        **_share("agreement", agreed, answered),
        "gold_answers": answers,
        "gold_correct": correct,
        **_share("gold_accuracy", correct, answers),
        "gold_text_distance": gold.get("text_distance"),
    }


def _share(name: str, successes: int, trials: int) -> dict:
    """`name` (the share, None of nothing) and `name`_interval (95% Wilson)."""
    if not trials:
        return {name: None, f"{name}_interval": None}
    return {
        name: successes / trials,
        f"{name}_interval": list(wilson_interval(successes, trials)),
    }
