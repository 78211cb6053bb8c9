"""What generation tells whoever keeps the history of captions (`verification`,
which captions never imports: docs/architecture.md)."""

from django.dispatch import Signal

# Sent inside the transaction that wrote them, with `job` and `replacements`: a
# list of (replaced caption id, new caption id, reason), for the captions of a
# regeneration job (regeneration.py).
replacements_written = Signal()
