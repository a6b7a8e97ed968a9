"""The pure science core never imports the database layer, the stages or the CLI (DESIGN §2)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PURE_MODULES = [
    "gzbcat.model",
    "gzbcat.geometry",
    "gzbcat.zooniverse.exports",
    "gzbcat.zooniverse.annotations",
    "gzbcat.zooniverse.subject_files",
    "gzbcat.aggregation",
    "gzbcat.aggregation.best_individual",
    "gzbcat.rendering",
    "gzbcat.fitting",
    "gzbcat.simulate",
    "gzbcat.simulate.crowd",
    "gzbcat.simulate.records",
    "gzbcat.simulate.sample",
    "gzbcat.simulate.setups",
    "gzbcat.simulate.sliders",
    "gzbcat.simulate.truth",
    "gzbcat.simulate.volunteers",
    "gzbcat.simulate.writer",
]


def test_pure_modules_import_without_the_database_layer() -> None:
    code = textwrap.dedent(
        f"""
        import importlib, sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("sqlalchemy", "alembic", "typer") or name.startswith(
                    ("gzbcat.db", "gzbcat.stages", "gzbcat.cli")
                ):
                    raise ImportError(f"pure code imported {{name}}")
                return None

        sys.meta_path.insert(0, Block())
        for module in {PURE_MODULES!r}:
            importlib.import_module(module)
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
