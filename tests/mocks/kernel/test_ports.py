"""mocks.kernel.ports: the seeded id stream gives exactly the GUIDs uuid.UUID(version=4) would from the same bits,
so a faster formatter cannot change a single message id (and with it a simulation's fingerprint)."""

from __future__ import annotations

import random
import uuid

from hypothesis import given, strategies as st

from mocks.kernel.ports import IdSource


@given(st.integers(min_value=0, max_value=2**32))
def test_ids_are_the_uuid4_of_the_seeded_bits(seed):
    ids, bits = IdSource(seed), random.Random(seed)
    for _ in range(20):
        made = ids()
        assert made == str(uuid.UUID(int=bits.getrandbits(128), version=4))
        assert uuid.UUID(made).version == 4 and uuid.UUID(made).variant == uuid.RFC_4122


def test_all_ones_and_all_zeros_keep_only_the_version_and_variant_bits():
    class Fixed(random.Random):
        def __init__(self, value):
            super().__init__(0)
            self.value = value

        def getrandbits(self, k):
            return self.value

    for value in (0, 2**128 - 1):
        ids = IdSource(0)
        ids._rng = Fixed(value)
        assert ids() == str(uuid.UUID(int=value, version=4))
