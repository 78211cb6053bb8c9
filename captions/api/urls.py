"""The captions endpoints under /api/v1/ (chatearthnet_site/api_urls.py includes it)."""

from django.urls import path

from captions.api import captions, export, jobs, patches, releases, scenes

urlpatterns = [
    path("scenes/", scenes.SceneListApi.as_view(), name="api-scene-list"),
    path(
        "scenes/<int:scene_id>/",
        scenes.SceneDetailApi.as_view(),
        name="api-scene-detail",
    ),
    path("patches/", patches.PatchListApi.as_view(), name="api-patch-list"),
    path(
        "patches/<int:patch_id>/",
        patches.PatchDetailApi.as_view(),
        name="api-patch-detail",
    ),
    path(
        "patches/<int:patch_id>/split/",
        patches.PatchSplitApi.as_view(),
        name="api-patch-split",
    ),
    path("captions/", captions.CaptionListApi.as_view(), name="api-caption-list"),
    path(
        "captions/<int:caption_id>/",
        captions.CaptionDetailApi.as_view(),
        name="api-caption-detail",
    ),
    path("jobs/", jobs.JobListApi.as_view(), name="api-job-list"),
    path("jobs/plan/", jobs.JobPlanApi.as_view(), name="api-job-plan"),
    path("jobs/launch/", jobs.JobLaunchApi.as_view(), name="api-job-launch"),
    path("jobs/<int:job_id>/", jobs.JobDetailApi.as_view(), name="api-job-detail"),
    path(
        "jobs/<int:job_id>/cancel/",
        jobs.JobCancelApi.as_view(),
        name="api-job-cancel",
    ),
    path(
        "jobs/<int:job_id>/failures/",
        jobs.JobFailuresApi.as_view(),
        name="api-job-failures",
    ),
    path(
        "jobs/<int:job_id>/retry-failed/",
        jobs.JobRetryFailedApi.as_view(),
        name="api-job-retry-failed",
    ),
    path("export/", export.ExportApi.as_view(), name="api-export"),
    path(
        "export/images/<int:scene_id>/<str:file_name>",
        export.ExportImageApi.as_view(),
        name="api-export-image",
    ),
    path("releases/", releases.ReleaseListApi.as_view(), name="api-release-list"),
    path(
        "releases/<int:number>/",
        releases.ReleaseDetailApi.as_view(),
        name="api-release-detail",
    ),
    path(
        "releases/<int:number>/files/<path:name>",
        releases.ReleaseFileApi.as_view(),
        name="api-release-file",
    ),
]
