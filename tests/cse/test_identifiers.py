"""Resource IDs: unique, in creation order within a process, a new prefix after a fork."""

import os

from cse import identifiers
from cse.identifiers import new_resource_id


def test_ids_carry_the_type_prefix_and_sort_in_creation_order() -> None:
    ids = [new_resource_id("cin") for _ in range(1000)]
    assert all(ri.startswith("cin") for ri in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_a_forked_child_draws_its_own_prefix() -> None:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report the prefix it uses, then leave at once, whatever happens
        try:
            os.write(write_end, new_resource_id("").encode())
        finally:
            os._exit(0)
    os.close(write_end)
    child_id = os.read(read_end, 100).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    parent_id = new_resource_id("")
    prefix_length = 2 * identifiers.PREFIX_BYTES
    assert child_id[:prefix_length] != parent_id[:prefix_length]
