"""What adapters share for batch writes (CRMAdapter.set_owners / create_tasks): one result per item, and no
call after one that failed in a way the next call would repeat (a rate limit, an outage, a lost grant)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from integration.errors import CRMAuthError, CRMError, CRMRateLimited, CRMTransient, CRMValidationError

Item = TypeVar("Item")
Built = TypeVar("Built")
Result = TypeVar("Result")

# after one of these the next call would fail the same way: the items not sent yet carry the same error
STOPS_THE_REST = (CRMRateLimited, CRMTransient, CRMAuthError)


def one_by_one(items: Sequence[Item], write: Callable[[Item], Result]) -> list[Result | Exception]:
    """`write(item)` per item, for platforms without a batch endpoint: each item's result or its CRM error."""
    results: list[Result | Exception] = []
    for n, item in enumerate(items):
        try:
            results.append(write(item))
        except STOPS_THE_REST as exc:
            return results + [exc] * (len(items) - n)
        except CRMError as exc:  # refused for this item alone (validation, gone, conflict): the others go on
            results.append(exc)
    return results


def in_chunks(items: Sequence[Item], size: int,
              write: Callable[[Sequence[Item]], list[Result | Exception]]) -> list[Result | Exception]:
    """`write(chunk)` per chunk of at most `size` items (one batch call each), results in item order.

    A chunk whose call raised a CRM error gives every item of it that error; after a rate limit, an outage or
    an auth failure the chunks not sent yet get it too.
    """
    results: list[Result | Exception] = []
    for start in range(0, len(items), size):
        chunk = items[start:start + size]
        try:
            results += write(chunk)
        except STOPS_THE_REST as exc:
            return results + [exc] * (len(items) - start)
        except CRMError as exc:
            results += [exc] * len(chunk)
    return results


def send_built(items: Sequence[Item], build: Callable[[Item], Built],
               send: Callable[[list[Built]], list[Result]]) -> list[Result | Exception]:
    """`build` each item's platform input (a CRMValidationError, e.g. a neutral field the platform has no place for,
    is that item's result), then one `send` of those built; results in item order."""
    built: list[Built | Exception] = []
    for item in items:
        try:
            built.append(build(item))
        except CRMValidationError as exc:
            built.append(exc)
    ready = [x for x in built if not isinstance(x, Exception)]
    answers = iter(send(ready) if ready else [])
    return [x if isinstance(x, Exception) else next(answers) for x in built]


def failures_by_id(ids: Sequence[str], results: Sequence[object]) -> dict[str, Exception]:
    """set_owners' answer from per-item results: the ids whose result is an error."""
    return {record_id: result for record_id, result in zip(ids, results, strict=True)
            if isinstance(result, Exception)}
