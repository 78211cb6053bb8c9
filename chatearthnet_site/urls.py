from django.conf import settings
from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from captions.views import media_file

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path(f"{settings.MEDIA_URL.strip('/')}/<path:name>", media_file, name="media"),
]
