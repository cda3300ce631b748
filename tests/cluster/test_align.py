import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from spatialfuse.cluster import align_labels


@settings(max_examples=30, deadline=None)
@given(st.permutations(["a", "b", "c", "d"]), st.integers(0, 2**31 - 1))
def test_permuted_labels_map_back_to_the_reference(names, seed):
    reference = np.random.default_rng(seed).integers(0, 4, size=200)
    reference = np.array(["a", "b", "c", "d"])[reference]
    labels = np.array([names.index(r) for r in reference])  # renamed copy of the reference
    mapping = align_labels(labels, reference)
    np.testing.assert_array_equal(np.array([mapping[x] for x in labels]), reference)


def test_extra_labels_get_distinct_names_and_missing_reference_is_ignored():
    labels = np.array([0, 0, 1, 1, 2, 2])
    reference = np.array(["0", "0", "1", "1", None, None], dtype=object)
    mapping = align_labels(labels, reference)
    assert mapping[0] == "0" and mapping[1] == "1"
    assert len(set(map(str, mapping.values()))) == 3
