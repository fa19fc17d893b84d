"""Ids derived from names are the standard library's uuid5, whatever the name."""

import uuid

from hypothesis import given
from hypothesis import strategies as st

from shared import ids


@given(namespace=st.uuids(), name=st.text(alphabet=st.characters(exclude_categories=("Cs",))))
def test_a_name_based_id_is_uuid5s(namespace: uuid.UUID, name: str) -> None:
    assert ids.uuid5(namespace, name) == uuid.uuid5(namespace, name)
