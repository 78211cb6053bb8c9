"""/api/v1/: each app's endpoints, plus the token endpoints."""

from django.urls import include, path, re_path

from captions.api import captions as caption_api
from captions.api import jobs as job_api
from captions.api import patches as patch_api
from captions.api import scenes as scene_api
from chatearthnet_site.api import api_not_found
from verification import api as review_api
from verification import api_tokens as token_api

urlpatterns = [
    path("auth/token/", token_api.TokenApi.as_view(), name="api-token"),
    path("auth/tokens/", token_api.TokenListApi.as_view(), name="api-token-list"),
    path(
        "auth/tokens/<int:token_id>/",
        token_api.TokenRevokeApi.as_view(),
        name="api-token-revoke",
    ),
    path("scenes/", scene_api.SceneListApi.as_view(), name="api-scene-list"),
    path(
        "scenes/<int:scene_id>/",
        scene_api.SceneDetailApi.as_view(),
        name="api-scene-detail",
    ),
    path("patches/", patch_api.PatchListApi.as_view(), name="api-patch-list"),
    path(
        "patches/<int:patch_id>/",
        patch_api.PatchDetailApi.as_view(),
        name="api-patch-detail",
    ),
    path("captions/", caption_api.CaptionListApi.as_view(), name="api-caption-list"),
    path(
        "captions/<int:caption_id>/",
        caption_api.CaptionDetailApi.as_view(),
        name="api-caption-detail",
    ),
    path("jobs/", job_api.JobListApi.as_view(), name="api-job-list"),
    path("jobs/plan/", job_api.JobPlanApi.as_view(), name="api-job-plan"),
    path("jobs/launch/", job_api.JobLaunchApi.as_view(), name="api-job-launch"),
    path("jobs/<int:job_id>/", job_api.JobDetailApi.as_view(), name="api-job-detail"),
    path(
        "jobs/<int:job_id>/cancel/",
        job_api.JobCancelApi.as_view(),
        name="api-job-cancel",
    ),
    path(
        "jobs/<int:job_id>/retry-failed/",
        job_api.JobRetryFailedApi.as_view(),
        name="api-job-retry-failed",
    ),
    path("review/next/", review_api.ReviewNextApi.as_view(), name="api-review-next"),
    path(
        "review/<int:caption_id>/",
        review_api.ReviewActionApi.as_view(),
        name="api-review-action",
    ),
    path(
        "review/<int:caption_id>/renew/",
        review_api.ReviewRenewApi.as_view(),
        name="api-review-renew",
    ),
    path("", include("captions.api.export_urls")),  # export/, releases/
    # Keep last: any other path under /api/v1/ (an id that is not a number, a typo)
    # gets a JSON 404 like the endpoints', not Django's HTML page.
    re_path(r"^", api_not_found, name="api-not-found"),
]
