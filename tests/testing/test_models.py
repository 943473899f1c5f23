"""The model factory of the tests and benchmarks."""
from mmseg_uem.testing.models import default_out_indices


def test_default_out_indices():
    assert default_out_indices(12) == (1, 4, 8, 11)
    assert default_out_indices(4) == (0, 1, 2, 3)
    assert default_out_indices(8) == (1, 3, 5, 7)
