"""Annotation parsing: spec §3 transforms, the two methods, sanitising, errors, the inverse.

Expected numbers come from the spec (§3.3, §3.4, §11 of galaxy-builder-algorithms.md), from
the raw drawing fields by hand, or from independent constructions (``np.rot90``); never from
the code under test.
"""

from __future__ import annotations

import copy
import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gzbcat.model import GalaxyModel, LogSpiralFit, SersicComponent, SpiralArm
from gzbcat.zooniverse.annotations import (
    METHODS,
    AnnotationError,
    CanvasFrame,
    model_to_annotation,
    parse_annotation,
    sanitize_model,
)

FIXTURE_FRAME = CanvasFrame(200, 200, canvas_width=200, canvas_height=200)  # s = 1
FIXTURE_ARM = [[10.0, 20.0], [30.5, 40.0], [50.0, 61.25], [70.0, 80.0], [90.0, 100.0]]


def _slider(task: str, value: Any) -> dict[str, Any]:
    return {"task": task, "value": value}


def fixture_annotation() -> list[dict[str, Any]]:
    """The reference test fixture of spec §11, in the export layout of spec §2.2."""
    return [
        {
            "task": "disk",
            "task_label": None,
            "value": [
                {
                    "task": "drawDisk",
                    "value": [
                        {"x": 100, "y": 101, "rx": 20, "ry": 15, "angle": 40, "tool": 0, "frame": 0}
                    ],
                },
                _slider("scaleSlider", 1.6),
                _slider("T13", 0.1),
            ],
        },
        {
            "task": "bulge",
            "task_label": None,
            "value": [
                {
                    "task": "drawBulge",
                    "value": [
                        {"x": 102, "y": 103, "rx": 15, "ry": 15, "angle": 41, "tool": 0, "frame": 0}
                    ],
                },
                _slider("scaleSlider", 1.7),
                _slider("intensitySlider", 0.4),
                _slider("sersicSlider", "1"),
            ],
        },
        {
            "task": "bar",
            "task_label": None,
            "value": [
                {
                    "task": "drawBar",
                    "value": [
                        {
                            "x": 104,
                            "y": 105,
                            "width": 90,
                            "height": 20,
                            "angle": 42,
                            "tool": 0,
                            "frame": 0,
                        }
                    ],
                },
                _slider("scaleSlider", "1"),
                _slider("T16", 0.3),
                _slider("T15", 0.6),
                _slider("shapeSlider", 2.2),
            ],
        },
        {
            "task": "spiral",
            "task_label": None,
            "value": [
                {
                    "task": "drawSpiral",
                    "value": [
                        {
                            "tool": 0,
                            "frame": 1,
                            "points": [{"x": x, "y": y} for x, y in FIXTURE_ARM],
                            "details": [{"value": 0.18}, {"value": "1"}],
                            "tool_label": "Spiral Arm",
                        }
                    ],
                },
                _slider("falloffSlider", "1"),
            ],
        },
    ]


def _task(annotation: list[dict[str, Any]], name: str) -> list[Any]:
    return next(t for t in annotation if t["task"] == name)["value"]


def _params(comp: SersicComponent | None) -> dict[str, float]:
    assert comp is not None
    return comp.parameters()


def _roll_close(a: float, b: float, tol: float = 1e-9) -> bool:
    """Equal modulo π (roll is only defined modulo the half turn)."""
    d = (a - b) % math.pi
    return min(d, math.pi - d) < tol


# --------------------------------------------------------------------------- §11 fixture

FIXTURE_EXPECTED = {
    "disk": {
        "mux": 100,
        "muy": 99,
        "q": 0.75,
        "re": 20 * 2 / 3 * 1.6,
        "roll": np.deg2rad(130),
        "intensity": 0.0625,
        "n": 1,
        "c": 2,
    },
    "bulge": {
        "mux": 102,
        "muy": 97,
        "q": 1,
        "re": 8.5,
        "roll": np.deg2rad(41),
        "intensity": 0.25,
        "n": 1,
        "c": 2,
    },
    "bar": {
        "mux": 149,
        "muy": 85,
        "q": 2 / 9,
        "re": 30,
        "roll": np.deg2rad(48),
        "intensity": 0.1875,
        "n": 0.6,
        "c": 2.2,
    },
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("sanitize", [True, False])
@pytest.mark.parametrize("as_json", [True, False])
def test_reference_fixture(method: str, sanitize: bool, as_json: bool) -> None:
    # No fixture value lies outside the §4.1 bounds (disk q 0.75 ∈ [0.25, 1.2], bulge q 1,
    # bar q 2/9 ∈ [0.05, 0.5], bar n 0.6 ∈ [0.3, 5], bar c 2.2 ∈ [1, 6], all rolls in
    # [0, π)), so the sanitised and unsanitised parses agree with the §11 table.
    annotation = fixture_annotation()
    source = json.dumps(annotation) if as_json else annotation
    model = parse_annotation(source, FIXTURE_FRAME, method=method, sanitize=sanitize)  # type: ignore[arg-type]
    shift = 0.0 if method == "reference" else 0.5  # corrected: canvas edge → pixel centre
    for name, expected in FIXTURE_EXPECTED.items():
        want = dict(expected, mux=expected["mux"] - shift, muy=expected["muy"] - shift)
        assert _params(getattr(model, name)) == pytest.approx(want, rel=1e-12, abs=1e-12), name
    (arm,) = model.arms
    flipped = np.array([[x, 200 - y] for x, y in FIXTURE_ARM]) - shift
    np.testing.assert_allclose(arm.points, flipped, rtol=0, atol=1e-12)
    assert arm.intensity == pytest.approx(0.18 / 0.8)
    assert arm.spread == 1.0
    assert arm.falloff == 1.0


def test_tasks_are_keyed_by_name_not_position() -> None:
    annotation = fixture_annotation()
    shuffled = [annotation[i] for i in (3, 1, 0, 2)]
    assert parse_annotation(shuffled, FIXTURE_FRAME) == parse_annotation(annotation, FIXTURE_FRAME)


def test_t0_to_t3_tasks_map_by_position() -> None:
    # Spec §2.3: beta-era exports name the tasks T0..T3 in workflow order; an explicit
    # assumption: T0 disk, T1 bulge, T2 bar, T3 spiral.
    annotation = fixture_annotation()
    legacy = copy.deepcopy(annotation)
    for i, task in enumerate(legacy):
        task["task"] = f"T{i}"
    assert parse_annotation(legacy, FIXTURE_FRAME) == parse_annotation(annotation, FIXTURE_FRAME)
    # Without the bar task (T2) the bar is absent; the others still map by their number.
    no_bar = [t for t in legacy if t["task"] != "T2"]
    model = parse_annotation(no_bar, FIXTURE_FRAME, method="reference")
    assert model.bar is None
    assert _params(model.bulge)["re"] == pytest.approx(8.5)
    assert len(model.arms) == 1


def test_empty_drawings_are_absent_components() -> None:
    annotation = fixture_annotation()
    for name in ("bulge", "bar", "spiral"):
        _task(annotation, name)[0]["value"] = []
    model = parse_annotation(annotation, FIXTURE_FRAME)
    assert model.disk is not None
    assert model.bulge is None and model.bar is None and model.arms == ()


def test_arms_of_any_length_are_kept_but_empty_ones_dropped() -> None:
    annotation = fixture_annotation()
    arms = _task(annotation, "spiral")[0]["value"]
    one_point = copy.deepcopy(arms[0])
    one_point["points"] = [{"x": 5, "y": 6}]
    empty = copy.deepcopy(arms[0])
    empty["points"] = []
    arms += [empty, one_point]
    model = parse_annotation(annotation, FIXTURE_FRAME, method="reference")
    assert [len(arm.points) for arm in model.arms] == [5, 1]
    np.testing.assert_array_equal(model.arms[1].points, [[5.0, 194.0]])


# --------------------------------------------------------------------------- real classification


@pytest.fixture(scope="module")
def real_annotation(galaxy_builder_dir: Path) -> str:
    with (galaxy_builder_dir / "classifications-sample.csv").open(newline="") as handle:
        first = next(csv.DictReader(handle))
    assert first["classification_id"] == "203580719"
    return first["annotations"]


# Spec §3.3–§3.4 worked example, canvas 512, scale sliders applied, reference method.
# Tolerances are the spec's printed precision (3 or 5 decimals); note that the spec's bulge
# q 0.96967 is 21.4323/22.1028 = 0.969661, within 1e-5.
P3, P5 = 1e-3, 1e-5
REAL_EXPECTED = {
    "disk": {
        "mux": (256.621, P3),
        "muy": (253.730, P3),
        "roll": (1.31024, P5),
        "re": (268.599, P3),
        "q": (0.53817, P5),
        "intensity": (0.06875, P5),
        "n": (1, 0),
        "c": (2, 0),
    },
    "bulge": {
        # mux/muy are not printed in the spec: the drawn centre, x and 512 − y.
        "mux": (255.828125, 1e-9),
        "muy": (512 - 259.70703125, 1e-9),
        "roll": (0.63272, P5),
        "re": (12.5986, 1e-4),
        "q": (0.96967, P5),
        "intensity": (0.275, P5),
        "n": (1, 0),
        "c": (2, 0),
    },
    "bar": {
        "mux": (256.922, P3),
        "muy": (251.920, P3),
        "roll": (0.80282, P5),
        "re": (30.590, P3),
        "q": (0.27985, P5),
        "intensity": (0.21875, P5),
        "n": (0.64, 1e-12),
        "c": (2.24, 1e-12),
    },
}


@pytest.mark.parametrize("method", METHODS)
def test_worked_example_classification(real_annotation: str, method: str) -> None:
    # Bulge q 0.97 ≥ 0.6, bar q 0.28 ≤ 0.5, disk q 0.54 ≥ 0.25: sanitising changes nothing.
    frame = CanvasFrame(512, 512)  # s = 1
    assert frame.cutout_px_per_canvas_px == 1.0
    model = parse_annotation(real_annotation, frame, method=method)  # type: ignore[arg-type]
    shift = 0.0 if method == "reference" else 0.5
    for name, expected in REAL_EXPECTED.items():
        got = _params(getattr(model, name))
        for key, (value, tol) in expected.items():
            want = value - shift if key in ("mux", "muy") else value
            assert got[key] == pytest.approx(want, abs=tol), (name, key)
    # Two arms; details 0.16/'1' and 0.18/'1', falloff '1'; first point (216.8, 228.8).
    assert len(model.arms) == 2
    assert [arm.intensity for arm in model.arms] == pytest.approx([0.2, 0.225])
    assert [arm.spread for arm in model.arms] == [1.0, 1.0]
    assert [arm.falloff for arm in model.arms] == [1.0, 1.0]
    np.testing.assert_allclose(model.arms[0].points[0], [216.8 - shift, 512 - 228.8 - shift])


@pytest.mark.parametrize("method", METHODS)
def test_worked_example_scaled_to_the_cutout(real_annotation: str, method: str) -> None:
    frame = CanvasFrame(135, 135)  # 512 canvas, height int(135/135·512) = 512
    assert frame.canvas_height == 512
    assert frame.cutout_px_per_canvas_px == 0.263671875  # 135/512, the notebook's size_diff
    disk = _params(parse_annotation(real_annotation, frame, method=method).disk)  # type: ignore[arg-type]
    shift = 0.0 if method == "reference" else 0.5
    assert disk["mux"] == pytest.approx(67.664 - shift, abs=P3)
    assert disk["muy"] == pytest.approx(66.902 - shift, abs=P3)
    assert disk["re"] == pytest.approx(70.822, abs=P3)
    assert disk["q"] == pytest.approx(0.53817, abs=P5)  # scaling leaves q, roll, I alone
    assert disk["roll"] == pytest.approx(1.31024, abs=P5)


def test_methods_differ_by_half_a_pixel_only(real_annotation: str) -> None:
    for frame in (
        CanvasFrame(135, 135),
        CanvasFrame(120, 90, rotation_correction=3 * math.pi / 2),
        CanvasFrame(101, 77, rotation_correction=0.4),
    ):
        ref = parse_annotation(real_annotation, frame, method="reference")
        cor = parse_annotation(real_annotation, frame, method="corrected")
        for name in ("disk", "bulge", "bar"):
            r, c = _params(getattr(ref, name)), _params(getattr(cor, name))
            assert c == pytest.approx(dict(r, mux=r["mux"] - 0.5, muy=r["muy"] - 0.5))
        for a, b in zip(ref.arms, cor.arms, strict=True):
            np.testing.assert_allclose(b.points, a.points - 0.5, atol=1e-9)


# --------------------------------------------------------------------------- falsy zero


def _with_slider(task: str, index: int, value: Any) -> list[dict[str, Any]]:
    annotation = fixture_annotation()
    _task(annotation, task)[index]["value"] = value
    return annotation


def _parse(annotation: Any, method: str, sanitize: bool = True) -> GalaxyModel:
    return parse_annotation(annotation, FIXTURE_FRAME, method=method, sanitize=sanitize)  # type: ignore[arg-type]


def test_numeric_zero_disk_scale() -> None:
    annotation = _with_slider("disk", 1, 0)
    # reference: float(0 or 1) = 1, so Re = 20·1/3·2
    assert _parse(annotation, "reference").disk.re == pytest.approx(20 / 3 * 2)  # type: ignore[union-attr]
    # corrected: scale 0, Re = max(1e-5, 0)/3·2 at the floor; sanitising then raises it to the
    # disk's Re lower bound 0.01 (§4.1), so both are checked.
    raw = _parse(annotation, "corrected", sanitize=False).disk
    assert raw.re == pytest.approx(1e-5 / 3 * 2)  # type: ignore[union-attr]
    assert _parse(annotation, "corrected").disk.re == pytest.approx(0.01)  # type: ignore[union-attr]
    # A string '0' is truthy: the scale is 0 in both methods.
    for method in METHODS:
        text_zero = _parse(_with_slider("disk", 1, "0"), method, sanitize=False)
        assert text_zero.disk.re == pytest.approx(1e-5 / 3 * 2)  # type: ignore[union-attr]


def test_numeric_zero_bulge_intensity() -> None:
    annotation = _with_slider("bulge", 2, 0)
    assert _parse(annotation, "reference").bulge.intensity == pytest.approx(0.625)  # type: ignore[union-attr]
    assert _parse(annotation, "corrected").bulge.intensity == 0.0  # type: ignore[union-attr]
    for method in METHODS:
        assert _parse(_with_slider("bulge", 2, "0"), method).bulge.intensity == 0.0  # type: ignore[union-attr]


def test_numeric_zero_arm_sliders() -> None:
    annotation = fixture_annotation()
    spiral = _task(annotation, "spiral")
    spiral[0]["value"][0]["details"] = [{"value": 0}, {"value": 0}]
    spiral[1]["value"] = 0
    (ref,) = _parse(annotation, "reference", sanitize=False).arms
    # Arm intensity has no `or` fallback (float(details[0])/0.8); spread `or 0.5`; falloff `or 1`.
    assert (ref.intensity, ref.spread, ref.falloff) == (0.0, 0.5, 1.0)
    (raw,) = _parse(annotation, "corrected", sanitize=False).arms
    assert (raw.intensity, raw.spread, raw.falloff) == (0.0, 0.0, 1e-5)  # falloff floor 1e-5
    (cor,) = _parse(annotation, "corrected").arms
    assert (cor.intensity, cor.spread, cor.falloff) == (0.0, 0.5, 0.001)  # §4.1 arm bounds


def test_untouched_and_missing_sliders_take_their_defaults() -> None:
    annotation = fixture_annotation()
    _task(annotation, "disk")[2]["value"] = None  # spec: I → 0.2 if None
    del _task(annotation, "bar")[2:]  # bar sliders absent: I 0.2, n 1, c 2
    model = _parse(annotation, "corrected")
    assert model.disk.intensity == pytest.approx(0.2 / 1.6)  # type: ignore[union-attr]
    bar = _params(model.bar)
    assert (bar["intensity"], bar["n"], bar["c"]) == pytest.approx((0.2 / 1.6, 1, 2))


# --------------------------------------------------------------------------- arms, frames


def test_arms_flipped_with_canvas_height_and_scaled() -> None:
    # Non-square cutout 100 × 50: the canvas is 512 × int(50/100·512) = 512 × 256, and
    # s = 100/512. Every y flips with the canvas height 256 (not the width, spec §12.1 #10).
    frame = CanvasFrame(100, 50)
    assert frame.canvas_height == 256
    s = 100 / 512
    annotation = fixture_annotation()
    arm = _task(annotation, "spiral")[0]["value"][0]
    arm["details"] = [{"value": 0.6}, {"value": 2}]
    wide = copy.deepcopy(arm)
    wide["details"] = [{"value": "0.75"}, {"value": 40}]
    widest = copy.deepcopy(arm)
    widest["details"] = [{"value": 1}, {"value": 100}]
    _task(annotation, "spiral")[0]["value"] += [wide, widest]
    _task(annotation, "spiral")[1]["value"] = 0.5
    raw = parse_annotation(annotation, frame, sanitize=False)
    model = parse_annotation(annotation, frame)
    expected_points = np.array([[x * s - 0.5, (256 - y) * s - 0.5] for x, y in FIXTURE_ARM])
    for arm_model in (*raw.arms, *model.arms):
        np.testing.assert_allclose(arm_model.points, expected_points, atol=1e-12)
        assert arm_model.falloff == 0.5
    assert [a.intensity for a in model.arms] == pytest.approx([0.75, 0.9375, 1.25])
    assert [a.spread for a in raw.arms] == pytest.approx([2 * s, 40 * s, 100 * s])
    assert [a.spread for a in model.arms] == pytest.approx([0.5, 40 * s, 15])  # clipped
    # The ellipse centre flips with the same height.
    assert model.disk.muy == pytest.approx((256 - 101) * s - 0.5)  # type: ignore[union-attr]
    assert model.disk.re == pytest.approx(20 * 1.6 / 3 * 2 * s)  # type: ignore[union-attr]


def test_canvas_frame_defaults_and_validation() -> None:
    assert CanvasFrame(120, 90).canvas_height == 384  # int(90/120·512)
    assert CanvasFrame(100, 33).canvas_height == 168  # int(168.96): truncated as in §3.1
    assert CanvasFrame(120, 90).cutout_px_per_canvas_px == 120 / 512
    with pytest.raises(ValueError, match="image size"):
        CanvasFrame(0, 10)
    with pytest.raises(ValueError, match="canvas_width"):
        CanvasFrame(10, 10, canvas_width=0)
    with pytest.raises(ValueError, match="method"):
        parse_annotation(fixture_annotation(), FIXTURE_FRAME, method="published")  # type: ignore[arg-type]


@pytest.mark.parametrize("row, col", [(10, 70), (0, 0), (99, 3), (42, 42)])
def test_rotation_correction_matches_rot90(row: int, col: int) -> None:
    # Spec §3.8: the cutout is np.rot90(uploaded image, 3) and rotation = 3π/2. A feature
    # drawn on the uploaded image at pixel (row, col) must land where rot90 puts that pixel.
    n = 100
    uploaded = np.zeros((n, n))
    uploaded[row, col] = 1
    want_row, want_col = np.argwhere(np.rot90(uploaded, 3))[0]
    frame = CanvasFrame(n, n, canvas_width=n, canvas_height=n, rotation_correction=1.5 * np.pi)
    annotation = fixture_annotation()
    # The pixel centre (col, row) on a canvas of pixel edges, y down, s = 1.
    x_canvas, y_canvas = col + 0.5, n - (row + 0.5)
    _task(annotation, "spiral")[0]["value"][0]["points"] = [{"x": x_canvas, "y": y_canvas}]
    disk = _task(annotation, "disk")[0]["value"][0]
    disk["x"], disk["y"] = x_canvas, y_canvas
    model = parse_annotation(annotation, frame)
    np.testing.assert_allclose(model.arms[0].points, [[want_col, want_row]], atol=1e-12)
    assert (model.disk.mux, model.disk.muy) == pytest.approx((want_col, want_row))  # type: ignore[union-attr]
    # A quarter turn counter-clockwise turns the major axis (−sin θ, cos θ) into
    # (−cos θ, −sin θ), the axis of roll θ + π/2; the unrotated disk roll is 130°.
    assert _roll_close(model.disk.roll, np.deg2rad(130) + np.pi / 2)  # type: ignore[union-attr]


# --------------------------------------------------------------------------- sanitise


def test_sanitize_folds_clips_and_wraps() -> None:
    fit = LogSpiralFit(a=10.0, pitch_angle_deg=15.0, chirality=1, t_min=0.0, t_max=3.0)
    model = GalaxyModel(
        disk=SersicComponent(
            mux=10, muy=20, roll=0.3, re=10, q=2.0, intensity=-1, n=4, c=3, errors={"q": 0.1}
        ),
        bulge=SersicComponent(mux=1, muy=2, roll=-0.1, re=3, q=0.3, intensity=0.5, n=10, c=3),
        bar=SersicComponent(mux=3, muy=4, roll=7.0, re=10, q=1.5, intensity=0.5, n=0.1, c=0.5),
        arms=(
            SpiralArm([[0, 0], [1, 1]], intensity=-1, spread=0.1, falloff=0, fit=fit),
            SpiralArm([[2, 2]], intensity=2, spread=20, falloff=3),
        ),
    )
    out = sanitize_model(model)
    # disk: q 2 folds to Re 20, q 0.5, roll 0.3 + π/2; I ≥ 0; n forced 1; c free.
    assert _params(out.disk) == pytest.approx(
        {"mux": 10, "muy": 20, "roll": 0.3 + math.pi / 2, "re": 20, "q": 0.5,
         "intensity": 0, "n": 1, "c": 3}
    )  # fmt: skip
    assert out.disk.errors == {"q": 0.1}  # type: ignore[union-attr]
    # bulge: roll −0.1 → π − 0.1; q ≥ 0.6; n ≤ 5; c forced 2.
    assert _params(out.bulge) == pytest.approx(
        {"mux": 1, "muy": 2, "roll": math.pi - 0.1, "re": 3, "q": 0.6,
         "intensity": 0.5, "n": 5, "c": 2}
    )  # fmt: skip
    # bar: q 1.5 folds (Re 15, q 2/3, roll + π/2), then q is clipped to 0.5; roll mod π;
    # n ≥ 0.3; c ≥ 1.
    assert _params(out.bar) == pytest.approx(
        {"mux": 3, "muy": 4, "roll": (7.0 + math.pi / 2) % math.pi, "re": 15, "q": 0.5,
         "intensity": 0.5, "n": 0.3, "c": 1}
    )  # fmt: skip
    first, second = out.arms
    assert (first.intensity, first.spread, first.falloff) == (0.0, 0.5, 0.001)
    assert (second.intensity, second.spread, second.falloff) == (2.0, 15.0, 3.0)
    assert first.fit == fit
    np.testing.assert_array_equal(first.points, [[0, 0], [1, 1]])
    # Idempotent.
    assert sanitize_model(out) == out


def test_sanitize_keeps_roll_in_range_for_tiny_negatives() -> None:
    disk = SersicComponent(mux=0, muy=0, roll=-1e-17, re=5, q=0.5, intensity=1)
    roll = sanitize_model(GalaxyModel(disk=disk)).disk.roll  # type: ignore[union-attr]
    assert 0 <= roll < math.pi


# --------------------------------------------------------------------------- bad input


def _broken(edit: Any) -> str:
    annotation = fixture_annotation()
    edit(annotation)
    return json.dumps(annotation)


def _drawing(annotation: list, task: str) -> dict[str, Any]:
    return _task(annotation, task)[0]["value"][0]


def _set(mapping: dict, key: str, value: Any) -> None:
    mapping[key] = value


BAD_INPUTS = {
    "invalid json": ("[{not json", r"not valid JSON"),
    "not a list": ('{"task": "disk"}', r"list of tasks"),
    "no known task": ('[{"task": "survey", "value": []}]', r"none of the tasks"),
    "duplicate task": (
        _broken(lambda a: a.append(copy.deepcopy(a[0]))),
        r"disk task appears more than once",
    ),
    "ellipse without rx": (
        _broken(lambda a: _drawing(a, "disk").pop("rx")),
        r"^disk drawing: missing field 'rx'$",
    ),
    "non-numeric bar width": (
        _broken(lambda a: _set(_drawing(a, "bar"), "width", "abc")),
        r"^bar drawing: field 'width' is not a number: 'abc'$",
    ),
    "non-numeric coordinate": (
        _broken(lambda a: _set(_drawing(a, "disk"), "x", "left")),
        r"disk drawing: field 'x' is not a number: 'left'",
    ),
    "null angle": (
        _broken(lambda a: _set(_drawing(a, "bulge"), "angle", None)),
        r"bulge drawing: field 'angle' is not a number: None",
    ),
    "non-finite size": (
        _broken(lambda a: _set(_drawing(a, "bulge"), "ry", "nan")),
        r"bulge drawing: field 'ry' is not a finite number",
    ),
    "non-numeric slider": (
        _broken(lambda a: _set(_task(a, "bulge")[2], "value", "abc")),
        r"bulge slider 'intensitySlider' \(value\[2\]\) is not a number: 'abc'",
    ),
    "dict slider": (
        _broken(lambda a: _set(_task(a, "bar")[4], "value", {"v": 1})),
        r"bar slider 'shapeSlider' \(value\[4\]\) is not a number",
    ),
    "arm without points": (
        _broken(lambda a: _drawing(a, "spiral").pop("points")),
        r"spiral arm 0: missing field 'points'",
    ),
    "arm point without y": (
        _broken(lambda a: _drawing(a, "spiral")["points"][2].pop("y")),
        r"spiral arm 0: point 2: missing field 'y'",
    ),
    "arm point not numeric": (
        _broken(lambda a: _set(_drawing(a, "spiral")["points"][3], "x", "abc")),
        r"spiral arm 0: point 3: field 'x' is not a number: 'abc'",
    ),
    "arm point null": (
        _broken(lambda a: _set(_drawing(a, "spiral")["points"][1], "y", None)),
        r"spiral arm 0: point 1: field 'y' is not a number: None",
    ),
    "arm point not an object": (
        _broken(lambda a: _set(_drawing(a, "spiral"), "points", [[1, 2]])),
        r"spiral arm 0: point 0 is not an object",
    ),
    "arm points not a list": (
        _broken(lambda a: _set(_drawing(a, "spiral"), "points", "none")),
        r"spiral arm 0: field 'points' is not a list",
    ),
    "arm detail not numeric": (
        _broken(lambda a: _set(_drawing(a, "spiral")["details"][1], "value", "wide")),
        r"spiral arm 0: details\[1\] \(spread\) is not a number: 'wide'",
    ),
    "falloff not numeric": (
        _broken(lambda a: _set(_task(a, "spiral")[1], "value", [1])),
        r"spiral slider 'falloffSlider' \(value\[1\]\) is not a number",
    ),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_names_the_problem(case: str, method: str) -> None:
    source, message = BAD_INPUTS[case]
    with pytest.raises(AnnotationError, match=message):
        parse_annotation(source, FIXTURE_FRAME, method=method)  # type: ignore[arg-type]


def test_numeric_strings_are_numbers() -> None:
    annotation = fixture_annotation()
    _drawing(annotation, "disk")["x"] = "100"
    _task(annotation, "disk")[1]["value"] = "1.6"
    assert parse_annotation(annotation, FIXTURE_FRAME) == parse_annotation(
        fixture_annotation(), FIXTURE_FRAME
    )


# --------------------------------------------------------------------------- inverse


def _assert_models_close(got: GalaxyModel, want: GalaxyModel) -> None:
    for name in ("disk", "bulge", "bar"):
        g, w = getattr(got, name), getattr(want, name)
        assert (g is None) == (w is None), name
        if w is None:
            continue
        gp, wp = _params(g), _params(w)
        assert _roll_close(gp.pop("roll"), wp.pop("roll")), name
        assert gp == pytest.approx(wp, rel=1e-9, abs=1e-9), name
    assert len(got.arms) == len(want.arms)
    for g, w in zip(got.arms, want.arms, strict=True):
        np.testing.assert_allclose(g.points, w.points, rtol=0, atol=1e-9)
        assert (g.intensity, g.spread, g.falloff) == pytest.approx(
            (w.intensity, w.spread, w.falloff), rel=1e-12
        )


HAND_MODELS = {
    "full": GalaxyModel(
        disk=SersicComponent(mux=60.2, muy=44.9, roll=1.2, re=30.0, q=0.6, intensity=0.125),
        bulge=SersicComponent(mux=59.5, muy=45.5, roll=0.0, re=4.0, q=1.0, intensity=0.3, n=1.5),
        bar=SersicComponent(
            mux=61.0, muy=44.0, roll=3.0, re=12.0, q=0.2, intensity=0.2, n=0.5, c=3.0
        ),
        arms=(
            SpiralArm([[50, 40], [55, 35], [62, 33.5]], intensity=0.9375, spread=1.25, falloff=2),
            SpiralArm([[70, 50], [65, 55]], intensity=0.2, spread=0.5, falloff=2),
        ),
    ),
    "disk only": GalaxyModel(
        disk=SersicComponent(mux=0.0, muy=89.0, roll=0.0, re=0.01, q=0.25, intensity=0.0)
    ),
    "empty": GalaxyModel(),
    "defaults": GalaxyModel(
        # Intensities and n at the sliders' untouched defaults: written as strings.
        disk=SersicComponent(mux=10, muy=11, roll=np.pi / 2, re=8, q=1.0, intensity=0.2 / 1.6),
        bulge=SersicComponent(mux=12, muy=13, roll=2.5, re=2, q=0.8, intensity=0.5 / 1.6),
        bar=SersicComponent(mux=12, muy=13, roll=0.1, re=5, q=0.5, intensity=0.2 / 1.6, n=0.5, c=2),
    ),
}

ROUND_TRIP_FRAMES = {
    "non-square": CanvasFrame(120, 90),
    "rotated 3π/2": CanvasFrame(120, 90, rotation_correction=3 * np.pi / 2),
    "rotated 0.7": CanvasFrame(135, 135, rotation_correction=0.7),
}


def _random_model(rng: np.random.Generator, width: int, height: int) -> GalaxyModel:
    def component(q: tuple[float, float], n: tuple[float, float], c: tuple[float, float]):
        return SersicComponent(
            mux=rng.uniform(0, width - 1),
            muy=rng.uniform(0, height - 1),
            roll=rng.uniform(0, np.pi),
            re=rng.uniform(0.5, 60),
            q=rng.uniform(*q),
            intensity=rng.uniform(0, 2),
            n=rng.uniform(*n),
            c=rng.uniform(*c),
        )

    falloff = rng.uniform(0.001, 3)
    arms = tuple(
        SpiralArm(
            rng.uniform(0, [width - 1, height - 1], size=(rng.integers(1, 40), 2)),
            intensity=rng.uniform(0, 2),
            spread=rng.uniform(0.5, 15),
            falloff=falloff,
        )
        for _ in range(rng.integers(0, 4))
    )
    return GalaxyModel(
        disk=component((0.25, 1), (1, 1), (2, 2)) if rng.random() < 0.9 else None,
        bulge=component((0.6, 1), (0.5, 5), (2, 2)) if rng.random() < 0.7 else None,
        bar=component((0.05, 0.5), (0.3, 5), (1, 6)) if rng.random() < 0.6 else None,
        arms=arms,
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("frame_name", list(ROUND_TRIP_FRAMES))
def test_round_trip_hand_models(frame_name: str, method: str) -> None:
    frame = ROUND_TRIP_FRAMES[frame_name]
    for model in HAND_MODELS.values():
        annotation = model_to_annotation(model, frame, method=method)  # type: ignore[arg-type]
        text = json.dumps(annotation)  # the export cell is JSON
        _assert_models_close(parse_annotation(text, frame, method=method), model)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("frame_name", list(ROUND_TRIP_FRAMES))
def test_round_trip_random_models(frame_name: str, method: str) -> None:
    frame = ROUND_TRIP_FRAMES[frame_name]
    rng = np.random.default_rng(20240607)
    for _ in range(50):
        model = _random_model(rng, frame.image_width, frame.image_height)
        scales = {name: float(rng.uniform(0.2, 2)) for name in ("disk", "bulge", "bar")}
        annotation = model_to_annotation(model, frame, method=method, sliders=scales)  # type: ignore[arg-type]
        _assert_models_close(parse_annotation(annotation, frame, method=method), model)  # type: ignore[arg-type]


def test_inverse_writes_the_export_layout() -> None:
    frame = CanvasFrame(120, 90)
    annotation = model_to_annotation(HAND_MODELS["defaults"], frame)
    assert [t["task"] for t in annotation] == ["disk", "bulge", "bar", "spiral"]
    disk, bulge, bar, spiral = (t["value"] for t in annotation)
    assert [v["task"] for v in disk] == ["drawDisk", "scaleSlider", "T13"]
    assert [v["task"] for v in bulge] == [
        "drawBulge", "scaleSlider", "intensitySlider", "sersicSlider"
    ]  # fmt: skip
    assert [v["task"] for v in bar] == ["drawBar", "scaleSlider", "T16", "T15", "shapeSlider"]
    assert [v["task"] for v in spiral] == ["drawSpiral", "falloffSlider"]
    # Sliders at their defaults are untouched: the default string.
    assert [v["value"] for v in disk[1:]] == ["1", "0.2"]
    assert [v["value"] for v in bulge[1:]] == ["1", "0.5", "1"]
    assert [v["value"] for v in bar[1:]] == ["1", "0.2", "0.5", "2"]
    assert spiral[0]["value"] == [] and spiral[1]["value"] == "1"
    ellipse = disk[0]["value"][0]
    assert {"x", "y", "rx", "ry", "angle", "tool", "frame", "tool_label"} <= set(ellipse)
    assert ellipse["rx"] >= ellipse["ry"]
    rectangle = bar[0]["value"][0]
    assert {"x", "y", "width", "height", "angle", "tool", "frame"} <= set(rectangle)
    # Numbers everywhere when asked.
    numeric = model_to_annotation(HAND_MODELS["defaults"], frame, untouched_as_strings=False)
    assert all(not isinstance(v["value"], str) for t in numeric for v in t["value"][1:])


def test_inverse_scale_slider_shrinks_the_drawing() -> None:
    frame = CanvasFrame(120, 90)
    model = HAND_MODELS["full"]
    plain = model_to_annotation(model, frame)
    scaled = model_to_annotation(model, frame, sliders={"disk": 2.0})
    assert _task(scaled, "disk")[1]["value"] == 2.0
    assert _drawing(scaled, "disk")["rx"] == pytest.approx(_drawing(plain, "disk")["rx"] / 2)
    # Disk: 3·Re/s/2 canvas px drawn, Re 30, s = 120/512.
    assert _drawing(plain, "disk")["rx"] == pytest.approx(3 * 30 / (120 / 512) / 2)
    _assert_models_close(parse_annotation(scaled, frame), model)


def test_inverse_of_an_unsanitised_model_parses_to_its_sanitised_form() -> None:
    frame = CanvasFrame(120, 90, rotation_correction=3 * np.pi / 2)
    model = GalaxyModel(
        disk=SersicComponent(mux=50, muy=40, roll=4.0, re=10, q=1.6, intensity=0.3),
        bar=SersicComponent(mux=50, muy=40, roll=0.5, re=10, q=0.9, intensity=0.3, n=1, c=2),
    )
    _assert_models_close(parse_annotation(model_to_annotation(model, frame), frame),
                         sanitize_model(model))  # fmt: skip


def test_reference_inverse_survives_the_falsy_zero_quirk() -> None:
    frame = CanvasFrame(120, 90)
    model = GalaxyModel(
        bulge=SersicComponent(mux=50, muy=40, roll=1.0, re=3, q=0.7, intensity=0.0, n=2)
    )
    annotation = model_to_annotation(model, frame, method="reference")
    assert _task(annotation, "bulge")[2]["value"] == "0"
    _assert_models_close(parse_annotation(annotation, frame, method="reference"), model)


def test_inverse_refuses_what_a_drawing_cannot_say() -> None:
    frame = CanvasFrame(120, 90)
    disk = SersicComponent(mux=50, muy=40, roll=1.0, re=3, q=0.7, intensity=0.1, c=3)
    with pytest.raises(ValueError, match="disk"):
        model_to_annotation(GalaxyModel(disk=disk), frame)
    arms = (
        SpiralArm([[1, 2]], intensity=0.1, spread=1, falloff=1),
        SpiralArm([[1, 2]], intensity=0.1, spread=1, falloff=2),
    )
    with pytest.raises(ValueError, match="falloff"):
        model_to_annotation(GalaxyModel(arms=arms), frame)


# ----------------------------------------------------------------- drawings that cannot be


def _drawing(annotation: list[dict[str, Any]], task: str) -> dict[str, Any]:
    return _task(annotation, task)[0]["value"][0]


@pytest.mark.parametrize("method", ["corrected", "reference"])
@pytest.mark.parametrize(
    ("task", "key", "value", "reason"),
    [
        ("disk", "x", 1e308, "far outside the canvas"),
        ("disk", "rx", 1e308, "far outside the canvas"),
        ("bulge", "y", -2001.0, "far outside the canvas"),
        ("bar", "width", 5e4, "far outside the canvas"),
        ("disk", "ry", float("inf"), "not a finite number"),
        ("disk", "x", float("nan"), "not a finite number"),
    ],
)
def test_absurd_drawings_are_refused_by_both_methods(
    method: str, task: str, key: str, value: float, reason: str
) -> None:
    annotation = fixture_annotation()
    _drawing(annotation, task)[key] = value
    with pytest.raises(AnnotationError, match=reason) as raised:
        _parse(json.dumps(annotation), method)
    assert f"{task} drawing: field {key!r}" in str(raised.value)


def test_a_far_arm_point_or_an_absurd_slider_is_refused() -> None:
    annotation = fixture_annotation()
    _drawing(annotation, "spiral")["points"][3] = {"x": 10.0, "y": 1e308}
    with pytest.raises(AnnotationError, match="spiral arm 0: point 3: field 'y' = 1e"):
        _parse(annotation, "corrected")
    with pytest.raises(AnnotationError, match="beyond any slider's range"):
        _parse(_with_slider("disk", 1, 1e308), "reference")
    annotation = fixture_annotation()
    _drawing(annotation, "spiral")["points"] = [{"x": 50 + i / 100, "y": 60} for i in range(1001)]
    with pytest.raises(AnnotationError, match="1001 points, more than any drawn arm has"):
        _parse(annotation, "reference")


@pytest.mark.parametrize(
    ("task", "key", "value", "kind"),
    [
        ("disk", "rx", -20.0, "negative"),
        ("bulge", "ry", 0.0, "zero"),
        ("bar", "height", 0, "zero"),
        ("bar", "width", -90, "negative"),
    ],
)
def test_degenerate_shapes_are_refused_when_corrected_and_read_as_published_in_reference(
    task: str, key: str, value: float, kind: str
) -> None:
    annotation = fixture_annotation()
    _drawing(annotation, task)[key] = value
    with pytest.raises(AnnotationError, match=f"field {key!r} = -?0?[0-9.]* is a {kind} size"):
        _parse(annotation, "corrected")
    model = _parse(annotation, "reference")
    component = getattr(model, task)
    assert component is not None
    assert all(math.isfinite(v) for v in _params(component).values())
