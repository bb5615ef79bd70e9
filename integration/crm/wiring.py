"""Where the outer layers plug adapters into the domain (the domain never imports them)."""
from __future__ import annotations

from collections.abc import Callable

from integration.protocols import CRMAdapter

AdapterFactory = Callable[[int], CRMAdapter]
_factory: AdapterFactory | None = None


class NotWired(RuntimeError):
    pass


def set_adapter_factory(factory: AdapterFactory) -> None:
    global _factory
    _factory = factory


def adapter_for(tenant_id: int) -> CRMAdapter:
    """The tenant's CRM adapter (worker.py and app.py wire the factory at start)."""
    if _factory is None:
        raise NotWired("no adapter factory: call adapters.factory.wire() at process start (worker.py does)")
    return _factory(tenant_id)
