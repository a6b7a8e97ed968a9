"""The ``catalogue`` view on SQLite and PostgreSQL: one row per subject, the right models.

Expected values are computed here from the synthetic rows the tests insert: the combined
pitch angle Σ L_i·φ_i / Σ L_i and its error sqrt(Σ L_i²·σ_i²) / Σ L_i (spec §6.8) with numpy,
to 1e-12 relative (both backends compute in double precision).
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Engine, insert, text

from gzbcat.db import schema
from gzbcat.db.engine import session_scope
from tests.catalogue.conftest import PARAMETERS, add_model

ARMS = [
    {"pitch_angle_deg": 12.0, "pitch_angle_err_deg": 1.5, "chirality": 1, "length_px": 80.0},
    {"pitch_angle_deg": 20.0, "pitch_angle_err_deg": 2.0, "chirality": -1, "length_px": 40.0},
    {"pitch_angle_deg": 15.0, "pitch_angle_err_deg": 0.5, "chirality": 1, "length_px": 120.0},
]
# The same arms after a fit moved them (corrected mode): other pitch angles, posterior errors.
TUNED_ARMS = [
    dict(arm, pitch_angle_deg=arm["pitch_angle_deg"] + 1.0, pitch_angle_err_deg=0.25 * (i + 1))
    for i, arm in enumerate(ARMS)
]


def catalogue(engine: Engine) -> dict[int, dict]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM catalogue")).mappings().all()
    return {row["subject_id"]: dict(row) for row in rows}


def test_one_row_per_subject_before_any_model(engine: Engine, subjects: list[int]) -> None:
    rows = catalogue(engine)
    assert sorted(rows) == sorted(subjects)
    row = rows[subjects[0]]
    assert row["dr7objid"] == 587741421632356667  # exact 64-bit id
    assert row["n_classifications"] == 0
    for name in ("tuned_model_id", "disk_re", "bulge_fraction", "n_arms", "pitch_angle_deg",
                 "has_bulge", "fit_converged", "bi_disk_re", "bi_n_arms"):  # fmt: skip
        assert row[name] is None, name


def test_tuned_aggregate_model_and_its_tuned_arms(engine: Engine, subjects: list[int]) -> None:
    sid, other = subjects[0], subjects[1]
    aggregate = add_model(engine, sid, "aggregate", components={"disk": 100.0}, arms=ARMS)
    # An older tuned model, then the newest one: the view must pick the newest.
    add_model(engine, sid, "tuned", source_model_id=aggregate, components={"disk": 1.0}, arms=ARMS)
    fit = {"chi2_nu": 1.25, "bulge_fraction": 0.2, "bar_fraction": 0.1, "spiral_fraction": 0.05,
           "flux": 120.0, "magnitude": 17.3, "converged": True}  # fmt: skip
    tuned = add_model(
        engine,
        sid,
        "tuned",
        source_model_id=aggregate,
        components={"disk": 10.0, "bulge": 20.0},
        fit=fit,
        arms=TUNED_ARMS,
    )
    # A tuned best-individual model must not leak into the aggregate family.
    best = add_model(engine, sid, "best_individual", components={"disk": 50.0})
    bi_tuned = add_model(
        engine, sid, "tuned", source_model_id=best, components={"disk": 30.0, "bar": 40.0},
        fit={"chi2_nu": 2.5, "converged": False},
    )  # fmt: skip
    with session_scope(engine, write=True) as session:
        session.execute(
            insert(schema.Classification),
            [
                {"classification_id": i, "subject_id": sid, "annotations": "[]",
                 "parse_status": "ok"}
                for i in (1, 2, 3)
            ],
        )  # fmt: skip
    row = catalogue(engine)[sid]
    assert row["tuned_model_id"] == tuned and row["source_model_id"] == aggregate
    assert row["bi_tuned_model_id"] == bi_tuned and row["bi_source_model_id"] == best
    assert row["n_classifications"] == 3
    for k, name in enumerate(PARAMETERS):
        assert row[f"disk_{name}"] == pytest.approx(10.0 + k)
        assert row[f"disk_{name}_err"] == pytest.approx((10.0 + k) / 100)
        assert row[f"bulge_{name}"] == pytest.approx(20.0 + k)
        assert row[f"bar_{name}"] is None
        assert row[f"bi_disk_{name}"] == pytest.approx(30.0 + k)
        assert row[f"bi_bar_{name}"] == pytest.approx(40.0 + k)
    for name, value in fit.items():
        expected = int(value) if isinstance(value, bool) else value
        assert row[name if name != "converged" else "fit_converged"] == pytest.approx(expected)
    assert (row["has_bulge"], row["has_bar"]) == (1, 0)
    assert (row["bi_has_bulge"], row["bi_has_bar"], row["bi_fit_converged"]) == (0, 1, 0)

    # Arms are the tuned model's (its fit moved them), not the aggregate's.
    length = np.array([a["length_px"] for a in TUNED_ARMS])
    pitch = np.array([a["pitch_angle_deg"] for a in TUNED_ARMS])
    sigma = np.array([a["pitch_angle_err_deg"] for a in TUNED_ARMS])
    assert row["n_arms"] == 3
    assert row["pitch_angle_deg"] == pytest.approx(np.sum(length * pitch) / length.sum(), 1e-12)
    assert row["pitch_angle_err_deg"] == pytest.approx(
        np.sqrt(np.sum(length**2 * sigma**2)) / length.sum(), 1e-12
    )
    for i, arm in enumerate(TUNED_ARMS):
        assert row[f"pitch_angle_{i}_deg"] == arm["pitch_angle_deg"]
        assert row[f"pitch_angle_{i}_err_deg"] == arm["pitch_angle_err_deg"]
        assert row[f"chirality_{i}"] == arm["chirality"]
    assert row["pitch_angle_3_deg"] is None and row["chirality_3"] is None
    assert row["bi_n_arms"] == 0  # the tuned best-individual model exists but has no arms

    # Everyone else still has exactly one row, with nothing modelled.
    rows = catalogue(engine)
    assert len(rows) == len(subjects)
    assert rows[other]["tuned_model_id"] is None


def test_arms_before_tuning_and_missing_errors(engine: Engine, subjects: list[int]) -> None:
    sid = subjects[2]
    arms = [dict(ARMS[0]), dict(ARMS[1], pitch_angle_err_deg=None), dict(ARMS[2], length_px=None)]
    older = add_model(engine, sid, "aggregate", arms=ARMS)
    newest = add_model(engine, sid, "aggregate", arms=arms)
    row = catalogue(engine)[sid]
    assert row["source_model_id"] == newest and older < newest
    assert row["tuned_model_id"] is None and row["disk_re"] is None and row["has_bulge"] is None
    assert row["n_arms"] == 3
    # The arm without a length has no weight; the arm without an error voids the error.
    expected = (80 * 12 + 40 * 20) / (80 + 40)
    assert row["pitch_angle_deg"] == pytest.approx(expected, 1e-12)
    assert row["pitch_angle_err_deg"] is None
    assert row["pitch_angle_2_deg"] == 15.0
