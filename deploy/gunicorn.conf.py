"""gunicorn's settings for the web service (deploy/chatearthnet-web.service).

`gunicorn --config deploy/gunicorn.conf.py chatearthnet_site.wsgi`, from the checkout;
docs/deployment.md says why each choice.
"""

import os

# Only the reverse proxy on this machine talks to gunicorn.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Processes: one per core. Threads: a streamed export or a release download to a slow
# client outlasts a sync worker's timeout, which would kill it half-way; a threaded
# worker's timeout watches the process, not the request.
workers = int(os.environ.get("WEB_CONCURRENCY", str(os.cpu_count() or 1)))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 60
# A stop or a restart lets running requests end for this long (the unit's
# TimeoutStopSec is longer).
graceful_timeout = 30
# Whether a request came over HTTPS is Django's to decide, from the header the
# proxy sets (SECURE_PROXY_SSL_HEADER): gunicorn trusts no forwarded header itself.
forwarded_allow_ips = ""
# Requests are logged by the proxy and, on errors, by Django (docs/operations.md).
accesslog = None
errorlog = "-"


def child_exit(server, worker) -> None:
    """A stopped process's request counts leave the shared metrics folder
    (PROMETHEUS_MULTIPROC_DIR, docs/operations.md)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
