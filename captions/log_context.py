"""The ids that log lines carry: which request, task, job, chunk, scene or release
a line was written for.

A context variable, so each thread (and each asyncio task) sees only its own ids;
the logging filter of the site (chatearthnet_site/logs.py) copies them onto every
record. It lives here, below the site, because the stages set the ids of their own
work (a chunk's in captions/generation/runner.py).
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType

# The names a log line may carry, in the order the text format shows them.
LOG_ID_NAMES = (
    "request_id",
    "task_id",
    "job_id",
    "chunk_id",
    "chunk_index",
    "llm_batch_id",
    "scene_id",
    "release_id",
)

# Each binding sets a new mapping, never changes one: an outer context (or another
# thread's copy) keeps the ids it had.
_log_ids: ContextVar[Mapping[str, int | str]] = ContextVar(
    "log_ids", default=MappingProxyType({})
)


def current_log_ids() -> Mapping[str, int | str]:
    return _log_ids.get()


def bind_log_ids(**ids: int | str) -> Token:
    """Add ids to those of the current context; `unbind_log_ids(token)` undoes it.

    For code that binds and unbinds in two places (Celery's task signals); elsewhere
    use `log_ids`."""
    unknown = set(ids) - set(LOG_ID_NAMES)
    if unknown:
        raise ValueError(f"not a log id: {', '.join(sorted(unknown))}")
    return _log_ids.set(MappingProxyType({**_log_ids.get(), **ids}))


def unbind_log_ids(token: Token) -> None:
    _log_ids.reset(token)


@contextmanager
def log_ids(**ids: int | str) -> Iterator[None]:
    """Every line logged inside the block carries these ids."""
    token = bind_log_ids(**ids)
    try:
        yield
    finally:
        unbind_log_ids(token)
