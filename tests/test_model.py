"""The value types' shared definitions: the method, the bounds and roll wrapping."""

from __future__ import annotations

import json
import math

import pytest

from gzbcat.aggregation.jaccard import shape_bounds
from gzbcat.model import ARM_BOUNDS, COMPONENT_BOUNDS, Method, MethodTable, wrap_roll


def test_method_is_a_string_with_two_values() -> None:
    assert [m.value for m in Method] == ["corrected", "reference"]
    assert Method("reference") is Method.REFERENCE
    assert Method.CORRECTED == "corrected"  # compares, hashes and serialises as its value
    assert {"corrected": 1}[Method.CORRECTED] == 1
    assert json.dumps({"method": Method.REFERENCE}) == '{"method": "reference"}'
    with pytest.raises(ValueError):
        Method("exact")


@pytest.mark.parametrize(
    ("roll", "expected"),
    [(0.0, 0.0), (1.0, 1.0), (math.pi, 0.0), (-0.5, math.pi - 0.5), (7.0, 7.0 - 2 * math.pi)],
)
def test_wrap_roll(roll: float, expected: float) -> None:
    assert wrap_roll(roll) == pytest.approx(expected, abs=1e-15)


def test_wrap_roll_never_returns_pi_for_a_tiny_negative_angle() -> None:
    assert -1e-17 % math.pi == math.pi  # what a bare % gives
    assert wrap_roll(-1e-17) == 0.0


def test_the_aggregate_shape_bounds_are_the_sanitising_bounds() -> None:
    # spec §4.1 and §5.4: (Re lower bound, q lower bound, q upper bound)
    assert shape_bounds("disk") == (0.01, 0.25, 1.2)
    assert shape_bounds("bulge") == (0.0, 0.6, 1.2)
    assert shape_bounds("bar") == (0.0, 0.05, 0.5)
    assert COMPONENT_BOUNDS["bar"]["c"] == (1.0, 6.0)
    assert ARM_BOUNDS["spread"] == (0.5, 15.0)


def test_each_part_has_one_table_of_switches_covering_every_method() -> None:
    from gzbcat.aggregation import AGGREGATION_RULES
    from gzbcat.fitting import FITTING_RULES
    from gzbcat.rendering import RENDERING_RULES
    from gzbcat.zooniverse.annotations import PARSING_RULES

    for table in (PARSING_RULES, AGGREGATION_RULES, RENDERING_RULES, FITTING_RULES):
        assert set(table) == set(Method)
        assert table["reference"] is table[Method.REFERENCE]  # text looks up like the method
        with pytest.raises(ValueError, match="unknown method 'published'"):
            table["published"]
        corrected, reference = table[Method.CORRECTED], table[Method.REFERENCE]
        assert corrected != reference


def test_method_table_names_the_choices() -> None:
    table = MethodTable({Method.CORRECTED: 1, Method.REFERENCE: 2})
    with pytest.raises(ValueError, match="expected one of: corrected, reference"):
        table[None]  # type: ignore[index]
