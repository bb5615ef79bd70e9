"""Where the outer layers plug adapters into the domain (the domain never imports them)."""
from __future__ import annotations

from collections.abc import Callable

from integration.protocols import CRMAdapter

AdapterFactory = Callable[[int], CRMAdapter]
_factory: AdapterFactory | None = None


class NotWired(RuntimeError):
    pass


def set_adapter_factory(factory: AdapterFactory | None) -> AdapterFactory | None:
    """Plug in the factory `adapter_for` builds adapters with; returns the one it replaces (a test puts it back)."""
    global _factory
    replaced, _factory = _factory, factory
    return replaced


def adapter_for(tenant_id: int) -> CRMAdapter:
    """The tenant's CRM adapter, from the factory worker.py and app.py (create_app) plug in at start through
    adapters.factory.wire (build_adapter); a script that needs adapters calls wire() itself."""
    if _factory is None:
        raise NotWired("no adapter factory: adapters.factory.wire() plugs it in at process start (worker.py's "
                       "run_worker and app.py's create_app do; a script must call it itself)")
    return _factory(tenant_id)
