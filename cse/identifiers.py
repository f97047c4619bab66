"""Identifiers that are unique across processes and restarts without asking the database: a
random prefix drawn once per process (and again in a forked child), then a counter.

Resource IDs are made this way so that the rows one process creates sit next to each other
in the `ri` and path indexes. With random IDs every create dirtied its own index pages: each
commit wrote, and the checkpoint later copied, a page per index per row, and on SQLite
(3.40) the commit after a page split inside an index scans the whole page cache, so the
scattered splits made most commits pay that scan. Creates slowed as the tree grew (about
15 % between 50,000 and 300,000 instances); with IDs in creation order they keep their
speed.

The IDs are not secrets and are not meant to be: access is decided by the access control
policies, never by knowing an ID. AE-IDs, which name a registrant, stay random
(`resources/ae.py`).
"""

import itertools
import os
import secrets

PREFIX_BYTES = 6
"""48 random bits per process: two processes sharing a prefix, which is the only way two
IDs can clash, has a chance of about one in five million after 10,000 process starts."""


class ProcessSequence:
    """`prefix` (hex, fixed per process) and `next_number()` (1, 2, ...)."""

    def __init__(self) -> None:
        self._renew()
        os.register_at_fork(after_in_child=self._renew)

    def _renew(self) -> None:
        self.prefix = secrets.token_hex(PREFIX_BYTES)
        self._numbers = itertools.count(1)

    def next_number(self) -> int:
        return next(self._numbers)


_resources = ProcessSequence()


def new_resource_id(type_prefix: str) -> str:
    """`<type prefix><process prefix><counter>`, the counter in 8 hex digits so that IDs of
    one process sort in creation order (for the first 4 billion)."""
    return f"{type_prefix}{_resources.prefix}{_resources.next_number():08x}"
