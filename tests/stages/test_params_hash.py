"""Stored parameter hashes stay valid across releases: a database made by an earlier gzbcat
must not find every unit due again only because the parameter types were reorganised."""

from __future__ import annotations

import pytest

from gzbcat.model import Method
from gzbcat.stages.registry import STAGES
from gzbcat.stages.runs import params_hash

# The default parameters' hashes as the first release with typed methods found them stored
# (computed by the release before it, where the method was a plain string).
STORED = {
    (Method.CORRECTED, "aggregate"): (
        "70eb51336c3d5f7e44290f2400e83cef3fb13fe245d98f7e842ffa9a05ac731e"
    ),
    (Method.CORRECTED, "best-individual"): (
        "15ed9dfecf93e8234b8c1879b577520cf9fa7812b799f755d8d88f29fe9c2093"
    ),
    (Method.CORRECTED, "tune-aggregate"): (
        "4a217e0bd4adb4aa71016a4c694ad4350edf9427b2f981d9b313ba1fcdc46e67"
    ),
    (Method.CORRECTED, "tune-best-individual"): (
        "ba57baef65753811f4985443527166bfa02befa50858d5c3c3bfe958d3e7aae5"
    ),
    (Method.REFERENCE, "aggregate"): (
        "0b3d52943e7a6068fb4bfa4d46621525ec61fa880d1d8c45b674ed98a4a80450"
    ),
    (Method.REFERENCE, "best-individual"): (
        "22c911a42b5880de5bc32adce84faf7812bbc9acbb4c4662d6166b4de33f0bc1"
    ),
    (Method.REFERENCE, "tune-aggregate"): (
        "8a17e077de2d30b9fea597d6310c9d18d09b1c096355d9b44ce52915b4a037d8"
    ),
    (Method.REFERENCE, "tune-best-individual"): (
        "925089ba759d59626a142cf5b9e419f0b2c0ffe65331ccc63edda43567866911"
    ),
}


@pytest.mark.parametrize(("method", "stage"), sorted(STORED))
def test_default_parameter_hashes_are_unchanged(method: Method, stage: str) -> None:
    assert params_hash(stage, STAGES[stage].make_params(method)) == STORED[(method, stage)]


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_method_given_as_text_hashes_like_the_method(stage: str) -> None:
    typed = STAGES[stage].make_params(Method.REFERENCE)
    assert typed.method is Method.REFERENCE
    assert params_hash(stage, STAGES[stage].make_params("reference")) == params_hash(stage, typed)
