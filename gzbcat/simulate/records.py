"""The rows of the two Zooniverse exports for simulated subjects, in the real exports' layout.

Identifiers, the workflow, the subject metadata Galaxy Builder stored (made up when no real
subject lends its own), the classification metadata the web client recorded, the retirement
record and the subject and classification rows themselves (spec §2.1). Rows are lists in the
order of :data:`SUBJECT_COLUMNS` and :data:`CLASSIFICATION_COLUMNS`; JSON cells are compact
text, as Zooniverse writes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from gzbcat.model import GalaxyModel
from gzbcat.simulate.crowd import SubjectSchedule

__all__ = [
    "ARCSEC_PER_PX",
    "CANVAS_PX",
    "CLASSIFICATION_COLUMNS",
    "CLASSIFICATION_ID_BASE",
    "SUBJECT_COLUMNS",
    "SUBJECT_ID_BASE",
    "SUBJECT_SET_ID",
    "WORKFLOW_ID",
    "WORKFLOW_NAME",
    "WORKFLOW_VERSION",
    "classification_metadata",
    "classification_row",
    "made_up_metadata",
    "retirement",
    "subject_row",
]

CANVAS_PX = 512
"""Width of the Galaxy Builder drawing canvas, canvas pixels (spec §2.4 ``imageWidth``)."""

SUBJECT_ID_BASE = 80_000_000
"""Simulated subject ids are ``SUBJECT_ID_BASE + 1, + 2, …``: far from the real ids
(20901989–20902038, 40216827), so a simulated sample never overwrites real subjects."""

CLASSIFICATION_ID_BASE = 900_000_000
"""Simulated classification ids start above this, in the order the classifications were made."""

WORKFLOW_ID = 5366
WORKFLOW_NAME = "Main modelling workflow"
WORKFLOW_VERSION = "61.107"
SUBJECT_SET_ID = 20561
"""The main-run subject set (spec §2.1: exports are filtered to ≥ 20561 and ≠ 80112)."""

ARCSEC_PER_PX = 0.396

_RETIREMENT_ID_BASE = 50_000_000
"""Ids of the subjects' retirement records (``subject_data``'s ``retired``), one per subject."""

SUBJECT_COLUMNS = (
    "subject_id",
    "project_id",
    "workflow_id",
    "subject_set_id",
    "metadata",
    "locations",
    "classifications_count",
    "retired_at",
    "retirement_reason",
    "created_at",
    "updated_at",
)
"""Header of ``subjects.csv``."""

CLASSIFICATION_COLUMNS = (
    "classification_id",
    "user_name",
    "user_id",
    "workflow_id",
    "workflow_name",
    "workflow_version",
    "created_at",
    "gold_standard",
    "expert",
    "metadata",
    "annotations",
    "subject_data",
    "subject_ids",
)
"""Header of ``classifications.csv``."""


def _json_text(data: Any) -> str:
    """Compact JSON, as Zooniverse writes its cells (no spaces, insertion order)."""
    return json.dumps(data, separators=(",", ":"))


def _timestamp(moment: datetime) -> str:
    """'2019-03-05 14:02:11 UTC', the classification export's format."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(moment: datetime) -> str:
    """'2019-03-05T14:02:11.000Z', the format inside Zooniverse's JSON cells."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def made_up_metadata(
    rng: np.random.Generator, truth: GalaxyModel, shape: tuple[int, int]
) -> dict[str, Any]:
    """Subject metadata in Galaxy Builder's layout (values are strings), for a made-up galaxy.

    The Petrosian radius matches the cutout (4 Petrosian radii wide at 0.396″/px, spec §2.1)
    and is stored in arcseconds under the key that says degrees, as the real metadata is.
    """
    ra = float(rng.uniform(110.0, 260.0))
    dec = float(rng.uniform(-5.0, 65.0))
    redshift = float(rng.uniform(0.005, 0.06))
    axis_ratio = float(np.clip((truth.disk.q if truth.disk else 1.0) + rng.normal(0, 0.04), 0, 1))
    return {
        "ra": f"{ra:.6f}",
        "dec": f"{dec:.6f}",
        "redshift": f"{redshift:.6f}",
        "SDSS dr7 id": str(587720000000000000 + int(rng.integers(0, 10**13))),
        "Common name": "Unknown",
        "NSA id": str(int(rng.integers(1000, 700000))),
        "Estimated distance": f"{redshift} * c / H_0",
        "Petrosian radius (degrees)": f"{shape[1] * ARCSEC_PER_PX / 4:.6f}",
        "Run": str(int(rng.integers(94, 8163))),
        "Camcol": str(int(rng.integers(1, 7))),
        "Field": str(int(rng.integers(11, 800))),
        "Rerun": "301",
        "Sersic axis ratio": f"{axis_ratio:.6f}",
        "Url to view": "[View on SkyServer](+tab+http://skyserver.sdss.org/dr14/en/tools/chart/"
        f"navi.aspx?ra={ra}&dec={dec}&opt=F)",
        "#isModelling": True,
        "#models": [
            {"frame": 0, "model": "GALAXY_BUILDER_DIFFERENCE"},
            {"frame": 2, "model": "GALAXY_BUILDER_MODEL"},
        ],
        "#isFake": True,
    }


def subject_row(
    subject_id: int, metadata: Mapping[str, Any], volunteers: int, schedule: SubjectSchedule
) -> list[Any]:
    """One row of ``subjects.csv``: created a day before launch, retired after its last
    classification; ``locations`` name the subject's three frames, relative to the folder."""
    return [
        subject_id,
        "",
        WORKFLOW_ID,
        SUBJECT_SET_ID,
        _json_text(metadata),
        _json_text(
            {
                "0": f"subjects/{subject_id}/difference.json",
                "1": f"subjects/{subject_id}/image.png",
                "2": f"subjects/{subject_id}/model.json",
            }
        ),
        volunteers,
        _timestamp(schedule.retired_at) if volunteers else "",
        "classification_count" if volunteers else "",
        _timestamp(schedule.launched - timedelta(days=1)),
        _timestamp(schedule.retired_at),
    ]


def retirement(subject_id: int, volunteers: int, retired_at: datetime) -> dict[str, Any]:
    """The retirement record that ``subject_data`` holds once the subject retires."""
    return {
        "id": _RETIREMENT_ID_BASE + subject_id - SUBJECT_ID_BASE,
        "workflow_id": WORKFLOW_ID,
        "classifications_count": volunteers,
        "created_at": _iso(retired_at),
        "updated_at": _iso(retired_at),
        "retired_at": _iso(retired_at),
        "subject_id": subject_id,
        "retirement_reason": "classification_count",
    }


def classification_metadata(
    rng: np.random.Generator, finished: datetime, canvas_height: int
) -> dict[str, Any]:
    """What the web client recorded about one classification: 1–15 minutes of work ending at
    ``finished``, in a browser session of its own, on a canvas ``canvas_height`` px high."""
    duration = int(rng.integers(60, 900))
    return {
        "source": "api",
        "session": "".join(f"{int(b):02x}" for b in rng.integers(0, 256, 16)),
        "viewport": {"width": 1440, "height": 789},
        "started_at": _iso(finished - timedelta(seconds=duration)),
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:65.0) Gecko/20100101 Firefox/65.0",
        "utc_offset": "0",
        "finished_at": _iso(finished),
        "live_project": True,
        "user_language": "en",
        "subject_dimensions": [
            {
                "clientWidth": CANVAS_PX,
                "clientHeight": canvas_height,
                "naturalWidth": CANVAS_PX,
                "naturalHeight": canvas_height,
            }
        ],
        "workflow_version": WORKFLOW_VERSION,
    }


def classification_row(
    user: tuple[str, str],
    moment: datetime,
    metadata: Mapping[str, Any],
    annotation: list[dict[str, Any]],
    subject_id: int,
    subject_data: Mapping[str, Any],
) -> list[Any]:
    """One row of ``classifications.csv`` without its leading ``classification_id`` (ids
    follow the order of all classifications, known only once every subject is simulated).

    ``user`` is (user_name, user_id); ``subject_data`` the subject's metadata with its
    ``retired`` record, keyed by the subject id.
    """
    user_name, user_id = user
    return [
        user_name,
        user_id,
        WORKFLOW_ID,
        WORKFLOW_NAME,
        WORKFLOW_VERSION,
        _timestamp(moment),
        "",
        "",
        _json_text(metadata),
        _json_text(annotation),
        _json_text(subject_data),
        subject_id,
    ]
