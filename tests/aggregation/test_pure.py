"""The aggregation core and geometry never import the database layer, stages or CLI (DESIGN §2)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_aggregation_imports_without_the_database_layer() -> None:
    code = textwrap.dedent(
        """
        import importlib, sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("sqlalchemy", "alembic", "typer") or name.startswith(
                    ("gzbcat.db", "gzbcat.stages", "gzbcat.cli")
                ):
                    raise ImportError(f"pure code imported {name}")
                return None

        sys.meta_path.insert(0, Block())
        for module in ("gzbcat.geometry", "gzbcat.aggregation", "gzbcat.aggregation.spirals"):
            importlib.import_module(module)
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
