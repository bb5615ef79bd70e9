"""Pool state (round-robin pointers, smooth-weighted counters) and open-lead counts, behind one small interface.

State is keyed by pool NAME and member EMAIL, never by position: adding or removing a member keeps the
others' pointer and weights, so editing a pool does not reset fairness.
"""
from __future__ import annotations

import threading
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Slot:
    """One pool member as the router sees it at decision time."""

    email: str
    weight: int = 1
    capacity: int | None = None
    unavailable: str | None = None  # "inactive", "out of office", "outside hours" (known before the pick)


@dataclass(frozen=True)
class Choice:
    email: str | None  # None: nobody available
    open_count: int = 0  # open leads the chosen member holds, this one included
    skipped: tuple[tuple[str, str], ...] = ()  # (email, why) for each member that could not take the lead


class PoolState(Protocol):
    """Where routing keeps what must survive between decisions, shared by every worker of a tenant.

    Implementations must make `choose` atomic: the capacity check, the pick, the pointer/weight update and
    the open-lead increment happen as one step, so concurrent workers never hand out the same slot twice.
    """

    def choose(self, pool: str, strategy: str, slots: Sequence[Slot]) -> Choice:
        """Pick an available member by `strategy`, advance the pool's state and count the lead as open."""
        ...

    def assign(self, owner: str) -> int:
        """Count one more open lead for an owner (assignments outside pools); returns the new count."""
        ...

    def release(self, owner: str) -> int:
        """One open lead of this owner was closed or reassigned; returns the new count."""
        ...

    def open_count(self, owner: str) -> int:
        ...


def pick(strategy: str, slots: Sequence[Slot], opens: Mapping[str, int],
         state: MutableMapping[str, int | str]) -> tuple[int | None, list[tuple[str, str]]]:
    """The pick shared by the in-memory state and the Redis Lua script (which mirrors it line by line)."""
    skipped = [(s.email, s.unavailable) for s in slots if s.unavailable]
    ok = [not s.unavailable for s in slots]
    for i, slot in enumerate(slots):
        held = opens.get(slot.email, 0)
        if ok[i] and slot.capacity is not None and held >= slot.capacity:
            ok[i] = False
            skipped.append((slot.email, f"at capacity {held}/{slot.capacity}"))
    chooser = {"round_robin": _round_robin, "weighted": _smooth_weighted, "least_loaded": _least_loaded}[strategy]
    return chooser(slots, ok, opens, state), sorted(skipped, key=lambda s: [x.email for x in slots].index(s[0]))


def _round_robin(slots: Sequence[Slot], ok: list[bool], _opens: Mapping[str, int],
                 state: MutableMapping[str, int | str]) -> int | None:
    emails = [s.email for s in slots]
    # Start after the member who got the last lead; if they left the pool, at the position they had.
    start = emails.index(state["last"]) + 1 if state.get("last") in emails else int(state.get("pos", 0))
    for k in range(len(slots)):
        i = (start + k) % len(slots)
        if ok[i]:
            state["last"], state["pos"] = emails[i], i
            return i
    return None


def _smooth_weighted(slots: Sequence[Slot], ok: list[bool], _opens: Mapping[str, int],
                     state: MutableMapping[str, int | str]) -> int | None:
    """nginx's smooth weighted round-robin over the available members (weights 2:1 give a, b, a)."""
    best, total, current = None, 0, {}
    for i, slot in enumerate(slots):
        if ok[i]:
            current[i] = int(state.get(slot.email, 0)) + slot.weight
            total += slot.weight
            if best is None or current[i] > current[best]:
                best = i
    if best is None:
        return None
    current[best] -= total
    listed = {s.email for s in slots}
    for email in [k for k in state if k not in listed]:
        del state[email]  # a member who left the pool takes their counter with them
    for i, value in current.items():
        state[slots[i].email] = value
    return best


def _least_loaded(slots: Sequence[Slot], ok: list[bool], opens: Mapping[str, int],
                  _state: MutableMapping[str, int | str]) -> int | None:
    available = [i for i in range(len(slots)) if ok[i]]
    return min(available, key=lambda i: (opens.get(slots[i].email, 0), i)) if available else None


class InMemoryPoolState:
    """Pool state for one process (the `leadrelay route` CLI, simulations, tests)."""

    def __init__(self, open_counts: Mapping[str, int] | None = None) -> None:
        self._lock = threading.Lock()
        self._opens: dict[str, int] = dict(open_counts or {})
        self._pools: dict[tuple[str, str], dict[str, int | str]] = {}

    def choose(self, pool: str, strategy: str, slots: Sequence[Slot]) -> Choice:
        with self._lock:
            state = self._pools.setdefault((strategy, pool), {})
            index, skipped = pick(strategy, slots, self._opens, state)
            if index is None:
                return Choice(None, 0, tuple(skipped))
            email = slots[index].email
            self._opens[email] = self._opens.get(email, 0) + 1
            return Choice(email, self._opens[email], tuple(skipped))

    def assign(self, owner: str) -> int:
        with self._lock:
            self._opens[owner] = self._opens.get(owner, 0) + 1
            return self._opens[owner]

    def release(self, owner: str) -> int:
        with self._lock:
            self._opens[owner] = max(0, self._opens.get(owner, 0) - 1)
            return self._opens[owner]

    def open_count(self, owner: str) -> int:
        with self._lock:
            return self._opens.get(owner, 0)
