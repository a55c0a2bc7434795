"""The database cache ``appeals up`` asks SecantusDB for: mongod's rule, not a fixed 1G."""

from __future__ import annotations

from shared.embedded import mongod_cache_size

GIB = 2**30


def test_half_of_memory_less_one_gib() -> None:
    assert mongod_cache_size(24 * GIB) == f"{(24 * 1024 - 1024) // 2}M"  # 11.5 GiB
    assert mongod_cache_size(4 * GIB) == "1536M"


def test_never_below_256_mib() -> None:
    assert mongod_cache_size(1 * GIB) == "256M"
    assert mongod_cache_size(512 * 2**20) == "256M"


def test_this_machine_gets_a_size() -> None:
    size = mongod_cache_size()
    assert size.endswith("M") and int(size[:-1]) >= 256
