"""Who may do what in the captions app, decided by whoever defines the roles.

The captions app knows the abilities its pages and endpoints need, not the roles
that grant them: `verification` (which defines the roles) registers a rule for each
ability when it starts (`verification/apps.py`). An ability no one registered is
refused to everyone, so a missing registration fails closed.
"""

from collections.abc import Callable
from typing import Any

# Curate: ingest, generation jobs, releases, queue filters (the admin site's work).
CURATE = "curate"
# Read and export the dataset: scenes, patches, captions, exports, releases.
READ_DATASET = "read_dataset"
ABILITIES = (CURATE, READ_DATASET)

Rule = Callable[[Any], bool]
_rules: dict[str, Rule] = {}


def register(ability: str, rule: Rule) -> None:
    if ability not in ABILITIES:
        raise ValueError(f"unknown ability {ability!r}; known: {', '.join(ABILITIES)}")
    _rules[ability] = rule


def may(user: Any, ability: str) -> bool:
    """Whether `user` has `ability`; False for anyone if no rule grants it."""
    if ability not in ABILITIES:
        raise ValueError(f"unknown ability {ability!r}")
    rule = _rules.get(ability)
    return rule is not None and bool(rule(user))
