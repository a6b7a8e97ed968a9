"""Stored parameter hashes stay valid across releases: a database made by an earlier gzbcat
must not find every unit due again only because the parameter types were reorganised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gzbcat.model import Method
from gzbcat.stages.registry import STAGES
from gzbcat.stages.runs import params_hash

# The default parameters' hashes as the first release with typed methods found them stored
# (computed by the release before it, where the method was a plain string): "method stage".
# Changed on purpose since: the tune stages' (TuneParams gained ``errors`` when tuned errors
# became the width of the fit's posterior; tuned models stored before lack those errors, so
# their units must run again) and the aggregate stage's (AggregateParams gained
# ``bootstrap``; aggregates now store the members' spread as _scatter and the aggregate's own
# error as _err, and arm pitch errors include the volunteers' disagreement: run them again);
# the corrected tune stages' once more when their L-BFGS-B kept 30 corrections, not 10
# (another optimum to within the fit's precision).
STORED = json.loads((Path(__file__).parent / "params_hashes.json").read_text())


@pytest.mark.parametrize("key", sorted(STORED))
def test_default_parameter_hashes_are_unchanged(key: str) -> None:
    method, stage = key.split()
    assert params_hash(stage, STAGES[stage].make_params(Method(method))) == STORED[key]


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_method_given_as_text_hashes_like_the_method(stage: str) -> None:
    typed = STAGES[stage].make_params(Method.REFERENCE)
    assert typed.method is Method.REFERENCE
    assert params_hash(stage, STAGES[stage].make_params("reference")) == params_hash(stage, typed)
