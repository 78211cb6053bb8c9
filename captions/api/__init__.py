"""The REST API of the captions app: scenes, patches, captions, jobs, export and
releases (mounted under /api/v1/ by chatearthnet_site/api_urls.py)."""
