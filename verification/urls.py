from django.urls import path

from verification import curation_views, map_views, views

urlpatterns = [
    path("map/", map_views.map_page, name="map"),
    path("map/world.geojson", map_views.world_geojson, name="map-world"),
    path("review/next/", views.review_next, name="review-next"),
    path("review/<int:caption_id>/", views.review, name="review"),
    path("review/<int:caption_id>/action/", views.review_action, name="review-action"),
    path("review/<int:caption_id>/renew/", views.review_renew, name="review-renew"),
    path("review/<int:caption_id>/ahead/", views.review_ahead, name="review-ahead"),
    path("review/revert/<int:revision_id>/", views.review_revert, name="review-revert"),
    path("review/<int:caption_id>/gold/", curation_views.gold, name="review-gold"),
    path(
        "review/adjudicate/",
        curation_views.adjudication_list,
        name="adjudication-list",
    ),
    path(
        "review/adjudicate/<int:review_id>/",
        curation_views.adjudicate,
        name="adjudicate",
    ),
]
