"""What every endpoint of the REST API shares, in both apps: cursor pagination,
strict filters and strict input (settings.REST_FRAMEWORK names the first two).

The endpoints live with their stages' adapters (`captions/api/`, `verification/api.py`);
their error answers are in `captions/api/errors.py`, who may call them in
`captions/api/permissions.py` and `verification/permissions.py`.
"""

from collections.abc import Mapping
from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request


class IdCursorPagination(CursorPagination):
    """Cursor pages in id order: stable while rows are added, constant time per page
    at any depth (an offset page would count and skip every row before it)."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request: Request) -> Any:
        # DRF checks a cursor's offset but not its position, which goes straight into
        # `id < position`: a forged cursor with a word there would be a 500.
        cursor = super().decode_cursor(request)
        position = cursor.position if cursor is not None else None
        if position is not None and not (position.isdigit() and len(position) <= 19):
            raise exceptions.NotFound(self.invalid_cursor_message)
        return cursor


# Query parameters every list endpoint understands besides its filters.
GENERAL_PARAMETERS = frozenset({"cursor", "page_size", "format"})


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter, but an unknown query parameter is a 400, not silently ignored:
    a typo in a filter would otherwise return the whole unfiltered list."""

    def filter_queryset(self, request: Request, queryset: Any, view: Any) -> Any:
        filterset_class = self.get_filterset_class(view, queryset)
        known = set(GENERAL_PARAMETERS) | set(getattr(view, "extra_parameters", ()))
        if filterset_class is not None:
            known |= set(filterset_class.base_filters)
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise exceptions.ValidationError(
                {
                    "unknown_parameters": unknown,
                    "known_parameters": sorted(known),
                }
            )
        return super().filter_queryset(request, queryset, view)


class StrictInputSerializer(serializers.Serializer):
    """The base of every write endpoint's input: a key it does not know is a 400.

    DRF drops unknown keys silently, so `{"scene": 3}` (for `scenes`) launched a job
    over every scene; a typo must be refused, naming the keys it takes.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                known = ", ".join(sorted(self.fields)) or "none"
                message = f"unknown key; this endpoint takes: {known}"
                raise exceptions.ValidationError({key: [message] for key in unknown})
        return super().to_internal_value(data)


class NoInputSerializer(StrictInputSerializer):
    """For write endpoints that take no body: any key in one is refused."""
