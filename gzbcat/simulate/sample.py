"""A whole simulated sample: :func:`simulate` ties set-ups, truth, volunteers and files together.

Every random draw comes from one ``numpy.random.Generator`` seeded with ``seed``, in a fixed
order (the crowd, then per subject: set-up, galaxy, noise, metadata, schedule and each
classification), and no value depends on the clock or on dict order, so one seed always gives
byte-identical files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from gzbcat.model import GalaxyModel
from gzbcat.simulate.crowd import Crowd, SubjectSchedule
from gzbcat.simulate.records import (
    CANVAS_PX,
    CLASSIFICATION_ID_BASE,
    SUBJECT_ID_BASE,
    classification_metadata,
    classification_row,
    made_up_metadata,
    retirement,
    subject_row,
)
from gzbcat.simulate.reference import HartPitch, read_hart_pitches
from gzbcat.simulate.setups import ImageSetup, builtin_setup, real_setups, resolve_like
from gzbcat.simulate.truth import Observation, make_galaxy, observe
from gzbcat.simulate.volunteers import JUNK_FRACTION, VolunteerNotes, draw_volunteer
from gzbcat.simulate.writer import (
    subject_truth,
    write_classification_export,
    write_subject_export,
    write_subject_files,
    write_truth,
)
from gzbcat.zooniverse.annotations import CanvasFrame

__all__ = ["SimulationSummary", "simulate"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulationSummary:
    """What :func:`simulate` wrote.

    Attributes
    ----------
    outdir
        The folder.
    subject_ids
        The simulated subjects, in order.
    n_classifications
        Rows of ``classifications.csv``.
    n_empty, n_malformed
        Junk rows: empty drawings (parse to an empty model) and malformed ones (the parser
        rejects them: ingest counts exactly these as parse errors).
    malformed_classification_ids
        The ids of the malformed rows.
    n_components
        Per part (``disk``, ``bulge``, ``bar``, ``arms``): how many the true galaxies have.
    image_source
        ``"builtin"`` or the folder the real subjects came from.
    files
        Every file written, relative to ``outdir``, sorted.
    n_hart_pitches
        Galaxies whose arms took the pitch angle of their real galaxy from the Hart et al.
        (2017) table (``hart_table`` of :func:`simulate`); 0 without it.
    """

    outdir: Path
    subject_ids: tuple[int, ...]
    n_classifications: int
    n_empty: int
    n_malformed: int
    malformed_classification_ids: tuple[int, ...]
    n_components: dict[str, int]
    image_source: str
    files: tuple[str, ...]
    n_hart_pitches: int = 0


def simulate(
    outdir: Path,
    *,
    galaxies: int,
    volunteers: int,
    seed: int,
    like: Path | None = None,
    real_subjects: bool = True,
    junk_fraction: float = JUNK_FRACTION,
    hart_table: Path | None = None,
    repeats: int = 0,
) -> SimulationSummary:
    """Write a synthetic Galaxy Builder sample with known truth into ``outdir``.

    Parameters
    ----------
    outdir
        Folder to write into (created if needed); existing files of the same names are
        replaced. See :mod:`gzbcat.simulate` for the files.
    galaxies
        Number of subjects.
    volunteers
        Classifications per subject, each by a different volunteer.
    seed
        Seed of the one ``numpy.random.Generator`` every draw comes from; the same seed
        (and the same real subjects) gives byte-identical files.
    like
        A Galaxy Builder folder whose real subjects lend their image sizes, PSFs, masks,
        noise levels and metadata (cycled through in subject-id order; see
        :func:`real_setups`). None: ``../shared/data/galaxy-builder`` when present.
    real_subjects
        False: use built-in setups (:func:`builtin_setup`) even when real subjects are
        available (ignored when ``like`` is given).
    junk_fraction
        Fraction of classifications that are junk (half empty, half malformed).
    hart_table
        The Hart et al. (2017) CSV (``../shared/data/external/hart2017-gz2-sparcfire.csv``):
        a galaxy whose borrowed real subject has a row there (by SDSS DR7 id) takes that
        row's pitch angle (:mod:`gzbcat.simulate.reference`), recorded as
        ``pitch_reference`` in ``truth.json``. None: every pitch angle is drawn at random.
        Either way the same random numbers are drawn; without it the files are those of
        earlier versions, byte for byte.
    repeats
        Show the first ``repeats`` galaxies a second time, as Galaxy Builder's validation
        set did: each gets another subject (ids after the others) with the same metadata
        (the same ``dr7objid``), a new observation of the same true galaxy through the same
        set-up (new noise), and its own volunteers. Drawn after the other subjects, whose
        images, truth and drawings do not change. ``truth.json`` names the original as
        ``repeat_of``.

    Returns
    -------
    SimulationSummary

    Raises
    ------
    ValueError
        If ``galaxies`` or ``volunteers`` is negative, or ``like`` holds no readable subject;
        :class:`~gzbcat.simulate.reference.HartTableError` if ``hart_table`` cannot be read.
    """
    if galaxies < 0 or volunteers < 0:
        raise ValueError("galaxies and volunteers must be ≥ 0")
    if not 0 <= repeats <= galaxies:
        raise ValueError(f"repeats must be between 0 and galaxies ({galaxies}), got {repeats}")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    like_dir = resolve_like(like, real_subjects)
    setups = _real_setups(like_dir, galaxies)
    hart = read_hart_pitches(hart_table) if hart_table is not None else {}
    crowd = Crowd.draw(rng, volunteers)

    files: list[str] = []
    subjects: list[_Subject] = []
    galaxies_made: list[tuple[ImageSetup, GalaxyModel]] = []
    for index in range(galaxies):
        subject_id = SUBJECT_ID_BASE + index + 1
        setup = setups[index % len(setups)] if setups else builtin_setup(rng)
        reference = _hart_pitch(setup, hart)
        pitch_deg = reference.pitch_angle_deg if reference is not None else None
        galaxy = make_galaxy(rng, setup.shape, pitch_deg=pitch_deg)
        galaxies_made.append((setup, galaxy))
        observation = observe(rng, galaxy, setup)
        files += write_subject_files(outdir, subject_id, observation, setup)
        subjects.append(
            _classify_subject(
                rng, subject_id, setup, observation, crowd, volunteers, junk_fraction, reference
            )
        )
    for index in range(repeats):
        original = subjects[index]
        setup, galaxy = galaxies_made[index]
        subject_id = SUBJECT_ID_BASE + galaxies + index + 1
        observation = observe(rng, galaxy, setup)
        files += write_subject_files(outdir, subject_id, observation, setup)
        repeat = _classify_subject(
            rng,
            subject_id,
            setup,
            observation,
            crowd,
            volunteers,
            junk_fraction,
            original.hart_pitch,
            metadata=original.metadata,
        )
        repeat.truth_entry["repeat_of"] = original.subject_id
        subjects.append(repeat)

    ordered = _in_order_made(subjects)
    ids = {c.key: CLASSIFICATION_ID_BASE + i + 1 for i, c in enumerate(ordered)}
    files.append(write_subject_export(outdir, (subject.row for subject in subjects)))
    files.append(write_classification_export(outdir, ([ids[c.key], *c.row] for c in ordered)))
    files.append(
        write_truth(
            outdir,
            seed=seed,
            galaxies=galaxies,
            volunteers=volunteers,
            junk_fraction=junk_fraction,
            real_images=bool(setups),
            subjects=_truth_by_subject(subjects, ids),
            pitch_table=None if hart_table is None else Path(hart_table).name,
        )
    )
    image_source = str(like_dir) if setups else "builtin"
    summary = _summary(outdir, subjects, ordered, ids, image_source, files)
    if hart_table is not None:
        log.info("%d galaxies took their pitch angle from %s", summary.n_hart_pitches, hart_table)
    log.info(
        "simulated %d galaxies × %d volunteers into %s (%d malformed, %d empty)",
        galaxies,
        volunteers,
        outdir,
        summary.n_malformed,
        summary.n_empty,
    )
    return summary


@dataclass(frozen=True, eq=False)
class _Classification:
    """One simulated classification: when it was made, of which subject (its ``k``-th), its
    export row without the classification id, and the volunteer's notes."""

    moment: datetime
    subject_id: int
    k: int
    row: list[Any]
    notes: VolunteerNotes

    @property
    def key(self) -> tuple[int, int]:
        """(subject id, position among the subject's classifications): unique in a sample."""
        return self.subject_id, self.k


@dataclass(frozen=True, eq=False)
class _Subject:
    """One simulated subject: its true model, export row, ``truth.json`` entry (without the
    classifications) and classifications, in the order made."""

    subject_id: int
    truth: GalaxyModel
    row: list[Any]
    truth_entry: dict[str, Any]
    classifications: list[_Classification]
    hart_pitch: HartPitch | None = None
    metadata: dict[str, Any] | None = None


def _real_setups(like_dir: Path | None, galaxies: int) -> list[ImageSetup]:
    """The real subjects' set-ups to cycle through; empty for built-in set-ups."""
    if like_dir is None or not galaxies:
        return []
    setups = real_setups(like_dir, galaxies)
    if not setups:
        raise ValueError(f"{like_dir}: no readable Galaxy Builder subject found")
    return setups


def _hart_pitch(setup: ImageSetup, hart: dict[int, HartPitch]) -> HartPitch | None:
    """The Hart et al. row of the real galaxy whose set-up and metadata ``setup`` lends."""
    if not hart or setup.metadata is None:
        return None
    try:
        dr7objid = int(setup.metadata.get("SDSS dr7 id", ""))
    except (TypeError, ValueError):
        return None
    return hart.get(dr7objid)


def _classify_subject(
    rng: np.random.Generator,
    subject_id: int,
    setup: ImageSetup,
    observation: Observation,
    crowd: Crowd,
    volunteers: int,
    junk_fraction: float,
    hart_pitch: HartPitch | None = None,
    *,
    metadata: dict[str, Any] | None = None,
) -> _Subject:
    """Give a subject its metadata (``metadata``: another subject's, for a repeat) and have
    ``volunteers`` volunteers classify it."""
    truth = observation.model
    if metadata is None:
        metadata = (
            dict(setup.metadata)
            if setup.metadata is not None
            else made_up_metadata(rng, truth, setup.shape)
        )
    height, width = setup.shape
    frame = CanvasFrame(width, height, CANVAS_PX, int(height / width * CANVAS_PX))
    schedule = crowd.schedule(rng, volunteers)
    classifications = [
        _classify(rng, subject_id, k, truth, frame, metadata, crowd, schedule, junk_fraction)
        for k in range(volunteers)
    ]
    return _Subject(
        subject_id=subject_id,
        truth=truth,
        row=subject_row(subject_id, metadata, volunteers, schedule),
        truth_entry=subject_truth(observation, setup, hart_pitch),
        classifications=classifications,
        hart_pitch=hart_pitch,
        metadata=metadata,
    )


def _classify(
    rng: np.random.Generator,
    subject_id: int,
    k: int,
    truth: GalaxyModel,
    frame: CanvasFrame,
    metadata: dict[str, Any],
    crowd: Crowd,
    schedule: SubjectSchedule,
    junk_fraction: float,
) -> _Classification:
    """The ``k``-th classification of a subject; the last one retires it."""
    annotation, notes = draw_volunteer(rng, truth, frame, junk_fraction=junk_fraction)
    user = crowd.user(rng, schedule.chosen[k])
    moment = schedule.moments[k]
    made = classification_metadata(rng, moment, frame.canvas_height)
    volunteers = len(schedule.moments)
    retired = (
        retirement(subject_id, volunteers, schedule.retired_at) if k == volunteers - 1 else None
    )
    subject_data = {str(subject_id): {"retired": retired, **metadata}}
    row = classification_row(user, moment, made, annotation, subject_id, subject_data)
    return _Classification(moment, subject_id, k, row, notes)


def _in_order_made(subjects: list[_Subject]) -> list[_Classification]:
    """Every classification in the order made (ties: by subject, then position), the order
    that gives them their ids."""
    return sorted(
        (c for subject in subjects for c in subject.classifications),
        key=lambda c: (c.moment, c.subject_id, c.k),
    )


def _truth_by_subject(subjects: list[_Subject], ids: dict[tuple[int, int], int]) -> dict[str, Any]:
    """``truth.json``'s subjects: each entry with its volunteers' notes keyed by
    classification id, in the order of the subject's classifications."""
    return {
        str(subject.subject_id): {
            **subject.truth_entry,
            "classifications": {
                str(ids[c.key]): c.notes.to_dict() for c in subject.classifications
            },
        }
        for subject in subjects
    }


def _summary(
    outdir: Path,
    subjects: list[_Subject],
    ordered: list[_Classification],
    ids: dict[tuple[int, int], int],
    image_source: str,
    files: list[str],
) -> SimulationSummary:
    """What was written: subjects, junk rows and true components counted."""
    malformed = [ids[c.key] for c in ordered if c.notes.kind == "malformed"]
    return SimulationSummary(
        outdir=outdir,
        subject_ids=tuple(subject.subject_id for subject in subjects),
        n_classifications=len(ordered),
        n_empty=sum(c.notes.kind == "empty" for c in ordered),
        n_malformed=len(malformed),
        malformed_classification_ids=tuple(sorted(malformed)),
        n_components=_count_components(subject.truth for subject in subjects),
        image_source=image_source,
        files=tuple(sorted(files)),
        n_hart_pitches=sum(subject.hart_pitch is not None for subject in subjects),
    )


def _count_components(truths: Iterable[GalaxyModel]) -> dict[str, int]:
    """How many disks, bulges, bars and arms the true galaxies have."""
    counts = {"disk": 0, "bulge": 0, "bar": 0, "arms": 0}
    for truth in truths:
        for name in ("disk", "bulge", "bar"):
            counts[name] += getattr(truth, name) is not None
        counts["arms"] += len(truth.arms)
    return counts
