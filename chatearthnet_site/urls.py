from django.conf import settings
from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView
from django.views.static import serve

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
]

if settings.DEBUG:
    # Previews are files; in production a web server or object store serves MEDIA_ROOT.
    urlpatterns += [
        path(
            f"{settings.MEDIA_URL}<path:path>",
            serve,
            {"document_root": settings.MEDIA_ROOT},
        )
    ]
