"""The review and token endpoints under /api/v1/ (chatearthnet_site/api_urls.py)."""

from django.urls import path

from verification import api, api_map, api_qa, api_quality, api_tokens

urlpatterns = [
    path("auth/token/", api_tokens.TokenApi.as_view(), name="api-token"),
    path("auth/tokens/", api_tokens.TokenListApi.as_view(), name="api-token-list"),
    path(
        "auth/tokens/<int:token_id>/",
        api_tokens.TokenRevokeApi.as_view(),
        name="api-token-revoke",
    ),
    path(
        "quality/prompts/",
        api_quality.PromptQualityApi.as_view(),
        name="api-quality-prompts",
    ),
    path("quality/ab/", api_quality.ABComparisonApi.as_view(), name="api-quality-ab"),
    path(
        "quality/annotators/",
        api_quality.AnnotatorQualityApi.as_view(),
        name="api-quality-annotators",
    ),
    path("quality/rates/", api_qa.QualityRatesApi.as_view(), name="api-quality-rates"),
    path("qa/", api_qa.QaReviewListApi.as_view(), name="api-qa-list"),
    path("qa/sample/", api_qa.QaSampleApi.as_view(), name="api-qa-sample"),
    path(
        "qa/<int:review_id>/adjudicate/",
        api_qa.AdjudicateApi.as_view(),
        name="api-qa-adjudicate",
    ),
    path("gold/", api_qa.GoldListApi.as_view(), name="api-gold-list"),
    path(
        "gold/<int:caption_id>/",
        api_qa.GoldDetailApi.as_view(),
        name="api-gold-detail",
    ),
    path("map/", api_map.MapApi.as_view(), name="api-map"),
    path("review/next/", api.ReviewNextApi.as_view(), name="api-review-next"),
    path(
        "review/<int:caption_id>/",
        api.ReviewActionApi.as_view(),
        name="api-review-action",
    ),
    path(
        "review/<int:caption_id>/renew/",
        api.ReviewRenewApi.as_view(),
        name="api-review-renew",
    ),
]
