from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from chatearthnet_site.favicon import favicon
from chatearthnet_site.health import healthz, readyz
from chatearthnet_site.metrics import metrics
from verification.dashboard import dashboard
from verification.media import media_file

urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("admin/", admin.site.urls),
    path("favicon.ico", favicon, name="favicon"),
    # Probes: anyone may ask, the answers hold no data (docs/operations.md).
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    # Prometheus: its token or an allowed address (docs/operations.md).
    path("metrics", metrics, name="metrics"),
    path("api/v1/", include("chatearthnet_site.api_urls")),
    # The schema and its docs page, like the probes, answer anonymously: they
    # describe the API, they hold no data.
    path(
        "api/schema/",
        SpectacularAPIView.as_view(permission_classes=[], authentication_classes=[]),
        name="api-schema",
    ),
    path(
        "api/docs/",
        # The split view serves its start-up script from a URL of its own: the
        # Content-Security-Policy allows no inline script.
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", permission_classes=[], authentication_classes=[]
        ),
        name="api-docs",
    ),
    path(
        "accounts/login/",
        # A form is shown and posted; Django's FormView would also take PUT as a
        # login attempt.
        auth_views.LoginView.as_view(
            template_name="registration/login.html",
            http_method_names=["get", "head", "post", "options"],
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("verification.urls")),
    path(f"{settings.MEDIA_URL.strip('/')}/<path:name>", media_file, name="media"),
]

# JSON under /api/, small pages elsewhere; never a traceback or a setting.
handler400 = "chatearthnet_site.errors.bad_request"
handler403 = "chatearthnet_site.errors.permission_denied"
handler404 = "chatearthnet_site.errors.page_not_found"
handler500 = "chatearthnet_site.errors.server_error"
