"""API tokens through the API: trade a username and password for one, list one's
own, revoke them (verification/tokens.py has the rules; docs/api.md the story).

Asking for a token is a login: django-axes counts its failures per username and
address with the page's and the admin's, and locks the pair out after
LOGIN_FAILURE_LIMIT of them; AuthRateThrottle limits its requests per address
whatever username they name. Any signed-in user manages their own tokens, whatever
their role; nobody sees or revokes anyone else's.
"""

from typing import Any

from django.contrib.auth import authenticate, user_logged_in
from django.http.response import HttpResponseBase
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import exceptions, generics, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from captions.api.common import StrictInputSerializer
from captions.api.filters import is_database_id
from verification import lockout, tokens
from verification.models import ApiToken
from verification.throttles import AuthRateThrottle

BAD_CREDENTIALS = "Unable to log in with provided credentials."
TOO_MANY = OpenApiResponse(
    description="Too many requests from this address (Retry-After says when to "
    "ask again), or this username is locked out from this address after repeated "
    "failed logins."
)


@extend_schema_serializer(component_name="ApiTokenOut")
class ApiTokenSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField(
        help_text="active; expired; password_changed (dead since the password "
        "changed); user_inactive."
    )

    class Meta:
        model = ApiToken
        fields = ["id", "name", "created_at", "expires_at", "last_used_at", "status"]
        read_only_fields = fields

    def get_status(self, token: ApiToken) -> tokens.TokenState:
        return tokens.token_state(token, user=self.context["request"].user)


class TokenApi(APIView):
    """POST: a new token for a username and password (no other credentials needed).
    DELETE: revoke the token this request is authenticated with."""

    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema_serializer(component_name="TokenRequest")
    class InputSerializer(StrictInputSerializer):
        """A username and password, and a label for the new token."""

        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=4096, trim_whitespace=False)
        name = serializers.CharField(
            max_length=100,
            required=False,
            default="",
            allow_blank=True,
            help_text="A label to tell your tokens apart, e.g. the machine it is for.",
        )

    @extend_schema_serializer(component_name="TokenCreated")
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(
            help_text="The key: send it as `Authorization: Token <key>`. Shown "
            "this once; only its hash is kept."
        )
        id = serializers.IntegerField()
        name = serializers.CharField()
        created_at = serializers.DateTimeField()
        expires_at = serializers.DateTimeField(
            allow_null=True, help_text="null: it does not expire."
        )

    # POST's credentials come in the body: a stale token in the header must not stop
    # a script from asking for a new one, and the password check is throttled on its
    # own, stricter scope.
    def get_authenticators(self) -> list[Any]:
        return [] if self._asks_for_a_token() else super().get_authenticators()

    def get_permissions(self) -> list[Any]:
        return [] if self._asks_for_a_token() else super().get_permissions()

    def get_throttles(self) -> list[Any]:
        if self._asks_for_a_token():
            return [AuthRateThrottle()]
        return super().get_throttles()

    def _asks_for_a_token(self) -> bool:
        # No request yet while drf-spectacular builds its mock one.
        return getattr(self.request, "method", None) == "POST"

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            400: OpenApiResponse(description="Wrong username or password."),
            429: TOO_MANY,
        },
    )
    def post(self, request: Request) -> HttpResponseBase:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        # Django's request, not DRF's: django-axes marks a lockout on it, and its
        # middleware looks for the mark there.
        http_request = request._request
        user = authenticate(
            http_request, username=values["username"], password=values["password"]
        )
        if user is None:
            if getattr(http_request, "axes_locked_out", False):
                return lockout.lockout_json(http_request)
            return Response({"error": BAD_CREDENTIALS}, status=400)
        # A password that opens a token is a login: last_login is updated, and
        # django-axes forgets the pair's earlier failures.
        user_logged_in.send(sender=user.__class__, request=http_request, user=user)
        token, key = tokens.token_create(user=user, name=values["name"])
        body = {
            "token": key,
            "id": token.pk,
            "name": token.name,
            "created_at": token.created_at,
            "expires_at": token.expires_at,
        }
        return Response(
            self.OutputSerializer(body).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=None,
        responses={
            204: OpenApiResponse(description="Revoked: the token opens nothing now."),
            400: OpenApiResponse(
                description="The request carries no token (a browser session)."
            ),
        },
    )
    def delete(self, request: Request) -> Response:
        if not isinstance(request.auth, ApiToken):
            raise exceptions.ValidationError(
                {
                    "authorization": "send the token to revoke as `Authorization: "
                    "Token <key>`; a session has none (DELETE auth/tokens/<id>/ "
                    "revokes one by id)"
                }
            )
        tokens.token_revoke(user=request.user, token_id=request.auth.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenListApi(generics.ListAPIView):
    """The caller's own tokens, newest first, without their keys."""

    serializer_class = ApiTokenSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular, no caller
            return ApiToken.objects.none()
        return tokens.token_list(user=self.request.user)


class TokenRevokeApi(APIView):
    """Revoke one of the caller's own tokens by id (404 for anyone else's)."""

    @extend_schema(
        request=None,
        responses={204: OpenApiResponse(description="Revoked.")},
    )
    def delete(self, request: Request, token_id: int) -> Response:
        if not is_database_id(token_id):
            raise exceptions.NotFound("no such token")
        try:
            tokens.token_revoke(user=request.user, token_id=token_id)
        except ApiToken.DoesNotExist:
            raise exceptions.NotFound("no such token") from None
        return Response(status=status.HTTP_204_NO_CONTENT)
