"""The relay's partitioner (shared.produce_batches) puts every key where aiokafka's default partitioner puts it."""

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from shared.produce_batches import partition_of


@given(key=st.binary(max_size=200), count=st.integers(min_value=1, max_value=64))
def test_a_key_goes_to_the_partition_the_default_partitioner_gives_it(key: bytes, count: int) -> None:
    partitions = list(range(count))
    assert partition_of(key, partitions) == DefaultPartitioner()(key, partitions, partitions)
    assert partition_of(key, partitions) == partition_of(key, partitions)  # the second answer comes from the cache


@given(count=st.integers(min_value=1, max_value=64))
def test_a_record_without_a_key_goes_to_one_of_the_topics_partitions(count: int) -> None:
    assert partition_of(None, list(range(count))) in range(count)
