"""/api/v1/export/ and /api/v1/releases/ (included by chatearthnet_site/api_urls.py)."""

from django.urls import path

from captions.api import export as export_api
from captions.api import releases as release_api

urlpatterns = [
    path("export/", export_api.ExportApi.as_view(), name="api-export"),
    path(
        "export/images/<int:scene_id>/<str:file_name>",
        export_api.ExportImageApi.as_view(),
        name="api-export-image",
    ),
    path("releases/", release_api.ReleaseListApi.as_view(), name="api-release-list"),
    path(
        "releases/<int:number>/",
        release_api.ReleaseDetailApi.as_view(),
        name="api-release-detail",
    ),
    path(
        "releases/<int:number>/files/<path:name>",
        release_api.ReleaseFileApi.as_view(),
        name="api-release-file",
    ),
]
