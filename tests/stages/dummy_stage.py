"""A stage for testing the runner: every compute appends a line to a marker file.

Run as ``python -m tests.stages.dummy_stage URL MARKER SLEEP_SECONDS WORKERS [DYING]`` to drain
the queue from another process (``DYING``: comma-separated subject ids whose compute kills its
own process).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gzbcat.db import schema
from gzbcat.db.engine import make_engine
from gzbcat.fitting import FitError
from gzbcat.stages.runner import Stage, StoreContext, run_stage


@dataclass(frozen=True)
class DummyParams:
    marker: str
    sleep_seconds: float = 0.0
    fail_subjects: tuple[int, ...] = ()
    version: int = 1
    unfittable_subjects: tuple[int, ...] = ()
    unrebuildable_subjects: tuple[int, ...] = ()
    dying_subjects: tuple[int, ...] = ()
    """Their compute kills its own process (SIGKILL), as a crash or the OOM killer would."""
    dies_once: bool = False
    """Dying subjects die on their first attempt only (a flag file beside the marker)."""
    unstorable_subjects: tuple[int, ...] = ()
    """Their outputs compute, but ``store`` raises."""


class TwoPartError(Exception):
    """Pickles, but cannot be rebuilt from its pickle: ``__init__`` wants two arguments."""

    def __init__(self, part: str, detail: str) -> None:
        super().__init__(f"{part}: {detail}")


def inputs(session: Session, subjects: Sequence[int] | None) -> dict[int, str]:
    query = select(schema.Subject.subject_id, schema.Subject.redshift)
    if subjects is not None:
        query = query.where(schema.Subject.subject_id.in_(list(subjects)))
    return {sid: f"z={redshift}" for sid, redshift in session.execute(query)}


def load(session: Session, subject_id: int) -> int:
    return subject_id


def compute(subject_id: int, params: DummyParams) -> float:
    time.sleep(params.sleep_seconds)
    if subject_id in params.fail_subjects:
        raise ValueError(f"subject {subject_id} is cursed")
    if subject_id in params.unfittable_subjects:
        raise FitError("no_disk", f"subject {subject_id} has no disk")
    if subject_id in params.unrebuildable_subjects:
        raise TwoPartError("broken", f"subject {subject_id}")
    if subject_id in params.dying_subjects:
        flag = f"{params.marker}.died-{subject_id}"
        if not (params.dies_once and os.path.exists(flag)):
            with open(flag, "a") as file:
                file.write(f"{os.getpid()}\n")
            os.kill(os.getpid(), signal.SIGKILL)
    fd = os.open(params.marker, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{subject_id}\n".encode())
    finally:
        os.close(fd)
    return subject_id / 1000


def store(session: Session, subject_id: int, outputs: float, context: StoreContext) -> None:
    if subject_id in context.params.unstorable_subjects:
        session.add(schema.Model(subject_id=subject_id, kind="aggregate"))
        session.flush()  # written, then rolled back with the rest of the unit
        raise ValueError(f"outputs of subject {subject_id} do not fit the table")
    session.execute(
        delete(schema.Model).where(
            schema.Model.subject_id == subject_id, schema.Model.kind == "aggregate"
        )
    )
    model = schema.Model(subject_id=subject_id, kind="aggregate", run_id=context.run_id)
    session.add(model)
    session.flush()
    session.add(
        schema.Component(
            model_id=model.model_id,
            component="disk",
            mux=outputs,
            muy=0.0,
            roll=0.0,
            re=1.0,
            q=1.0,
            intensity=1.0,
            n=1.0,
            c=2.0,
        )
    )


STAGE = Stage(name="dummy", inputs=inputs, load=load, compute=compute, store=store)


if __name__ == "__main__":
    url, marker, sleep_seconds, workers = sys.argv[1:5]
    dying = tuple(int(i) for i in sys.argv[5].split(",")) if len(sys.argv) > 5 else ()
    engine = make_engine(url)
    run_stage(
        engine,
        STAGE,
        DummyParams(marker=marker, sleep_seconds=float(sleep_seconds), dying_subjects=dying),
        workers=int(workers),
        lease_seconds=60,
    )
    engine.dispose()
