"""An in-process RQ worker for tests that run queued jobs in burst mode."""
from __future__ import annotations

from rq import SimpleWorker


class BurstWorker(SimpleWorker):
    """A SimpleWorker without the command channel: a burst needs none, and stopping its pubsub thread can wait
    out the thread's 60 s poll (redis-py's PubSubWorkerThread.stop joins it), which stalled e2e tests."""

    def subscribe(self) -> None:
        pass

    def unsubscribe(self) -> None:
        pass
