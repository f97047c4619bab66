"""The latest (`la`) and oldest (`ol`) instance of containers, kept in memory between
retrieves.

Sensors and dashboards read `la` far more often than it changes. Answering it took two
queries (the container by its path, its newest instance); a cached answer takes none. An
entry is dropped when a committed transaction of this process touches its container: a
new or deleted instance, an update (its `acpi`, its limits) or its deletion (also with an
ancestor). It is also ignored once the container or the instance expired. A read that
overlapped a commit does not fill the cache, since it may have seen the state before it.

Only correct while every write to the database goes through this process, so it is on for
one worker only; with several workers each one would miss the others' commits."""

from cse.resource import Resource

MAX_ENTRIES = 10_000
MAX_CONTENT_BYTES = 64 * 1024 * 1024
"""The cache starts afresh when it would hold more entries, or more content than this."""
EDGES = frozenset({"la", "ol"})

Key = tuple[bool, str, str]
"""(structured address, the container's path or resource ID, `la` or `ol`)"""
Entry = tuple[Resource, Resource]
"""(the instance, its container)"""


def _expired(resource: Resource, moment: float) -> bool:
    return resource.expires is not None and resource.expires <= moment


class EdgeCache:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.generation = 0
        """Moves on every commit: a read that started at another generation is not kept."""
        self._entries: dict[Key, Entry] = {}
        self._keys_by_container: dict[str, list[Key]] = {}
        self._content_bytes = 0

    def get(self, key: Key, moment: float) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        instance, container = entry
        if _expired(instance, moment) or _expired(container, moment):
            self._drop(container.ri)
            return None
        return entry

    def put(self, key: Key, entry: Entry, generation: int) -> None:
        size = entry[0].cs or 0
        if not self.enabled or generation != self.generation or key in self._entries:
            return
        if size > MAX_CONTENT_BYTES:
            return
        if len(self._entries) >= MAX_ENTRIES or self._content_bytes + size > MAX_CONTENT_BYTES:
            self._entries.clear()
            self._keys_by_container.clear()
            self._content_bytes = 0
        self._entries[key] = entry
        self._content_bytes += size
        self._keys_by_container.setdefault(entry[1].ri, []).append(key)

    def changed(self, ris: set[str]) -> None:
        """A transaction that touched these resources committed."""
        self.generation += 1
        if len(ris) > len(self._keys_by_container):
            ris = ris & self._keys_by_container.keys()
        for ri in ris:
            self._drop(ri)

    def _drop(self, container_ri: str) -> None:
        for key in self._keys_by_container.pop(container_ri, ()):
            entry = self._entries.pop(key, None)
            if entry is not None:
                self._content_bytes -= entry[0].cs or 0
