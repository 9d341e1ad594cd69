"""The swarm behaviour tests of tests/tracker, run unchanged against both stores.

Each test of ``test_tracker_swarm.py`` builds ``Swarms(policy)``; here its module's
``Swarms`` is replaced by a factory that builds the same thing over the backend under
test, so the very same assertions run against `MemoryStore` and `RedisStore`.
"""

from __future__ import annotations

import inspect
import itertools
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.tracker import test_tracker_swarm as swarm_tests
from tracker.config import SwarmPolicy
from tracker.redis_backend.store import RedisStore
from tracker.swarm import Swarms

# memory use is the memory store's own business
_NOT_SHARED = {"test_memory_per_peer_below_200_bytes"}
BEHAVIOUR = sorted(
    name
    for name, fn in vars(swarm_tests).items()
    if name.startswith("test_") and callable(fn) and name not in _NOT_SHARED
)


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[Callable[..., Swarms]]:
    """A ``Swarms(policy=None)`` factory over the backend; each call gets an empty swarm set."""
    if request.param == "memory":
        yield Swarms
        return
    url: str = request.getfixturevalue("redis_url")
    stores: list[RedisStore] = []
    names = itertools.count()

    def make(policy: SwarmPolicy | None = None) -> Swarms:
        policy = policy or SwarmPolicy()
        store = RedisStore.from_url(
            url,
            peer_ttl_s=policy.peer_ttl_s,
            max_peers_per_swarm=policy.max_peers_per_swarm,
            prefix=f"t{next(names)}",
        )
        stores.append(store)
        return Swarms(policy, store)

    yield make
    for store in stores:
        store.close()


@pytest.mark.parametrize("name", BEHAVIOUR)
def test_same_behaviour_on_both_backends(
    name: str, backend: Callable[..., Swarms], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(swarm_tests, "Swarms", backend)
    fn = getattr(swarm_tests, name)
    kwargs: dict[str, Any] = {}
    if "rng" in inspect.signature(fn).parameters:
        kwargs["rng"] = random.Random(7)
    fn(**kwargs)


def test_the_shared_tests_were_found() -> None:
    assert len(BEHAVIOUR) >= 15
