"""Our own recent writes, so a webhook that only echoes them is dropped (no platform signal is enough alone)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from redis import Redis

from integration.records import Event, EventKind

ECHO_TTL_SECONDS = 600


class RedisWriteLog:
    """WriteLog for one tenant: object -> the neutral fields we wrote recently ("*" for creates/merges)."""

    def __init__(self, redis: Redis, tenant_id: int) -> None:
        self.redis, self.tenant_id = redis, tenant_id

    def _key(self, object_type: str, object_id: str) -> str:
        return f"leadrelay:writes:{self.tenant_id}:{object_type}:{object_id}"

    def remember(self, object_type: str, object_id: str, fields: Iterable[str]) -> None:
        key = self._key(object_type, str(object_id))
        names = list(fields) or ["*"]
        with self.redis.pipeline() as pipe:
            pipe.sadd(key, *names)
            pipe.expire(key, ECHO_TTL_SECONDS)
            pipe.execute()

    def move(self, object_type: str, old_ids: Sequence[str], new_id: str) -> None:
        """Records merged into `new_id`: what we wrote on them just now counts as written on it, so the echo of
        such a write reported under the merged record's id is still recognised."""
        names = set().union(*(self.wrote(object_type, i) for i in old_ids))
        if names:
            self.remember(object_type, new_id, sorted(names))

    def wrote(self, object_type: str, object_id: str) -> set[str]:
        return {m.decode() for m in self.redis.smembers(self._key(object_type, str(object_id)))}

    def is_echo(self, event: Event, app_signal: bool) -> bool:
        """True when the platform attributes the change to us AND we did write that object just now.

        An update is an echo only if every changed field is one we wrote.
        """
        if not app_signal or event.kind in (EventKind.DELETED,):
            return False
        ours = self.wrote(event.object_type, event.object_id)
        if not ours:
            return False
        if "*" in ours or not event.changed_fields:
            # a platform that sends snapshots (Salesforce) can't itemise: the app signal plus our recent write
            # decide; should a person's edit hide in that window, the sweep still takes it in
            return True
        return set(event.changed_fields) <= ours
