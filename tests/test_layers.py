"""The pure science core never imports the database layer, the stages or the CLI (DESIGN §2)."""

from __future__ import annotations

import importlib.util
import pkgutil
import subprocess
import sys
import textwrap

PURE = [
    "gzbcat.model",
    "gzbcat.geometry",
    "gzbcat.zooniverse",
    "gzbcat.aggregation",
    "gzbcat.rendering",
    "gzbcat.fitting",
    "gzbcat.simulate",
    "gzbcat.plots",
]
"""The pure science core (DESIGN §2): these modules and packages, every submodule included."""


def _modules(names: list[str]) -> list[str]:
    """The names, and for packages every module below them (found on disk, not imported)."""
    found = []
    for name in names:
        found.append(name)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            found += [
                info.name
                for info in pkgutil.walk_packages(spec.submodule_search_locations, f"{name}.")
            ]
    return found


PURE_MODULES = _modules(PURE)


def test_pure_modules_import_without_the_database_layer() -> None:
    code = textwrap.dedent(
        f"""
        import importlib, sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("sqlalchemy", "alembic", "typer") or name.startswith(
                    ("gzbcat.db", "gzbcat.stages", "gzbcat.catalogue", "gzbcat.cli")
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


def test_plots_import_without_matplotlib() -> None:
    """matplotlib is an optional extra: the figure package imports it only when drawing."""
    code = textwrap.dedent(
        """
        import sys

        sys.modules["matplotlib"] = None
        import gzbcat.plots

        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_nothing_below_the_top_imports_the_api_or_the_cli() -> None:
    """``gzbcat.api`` and ``gzbcat.cli`` are the edges (DESIGN §2): the database layer, the
    stages and the catalogue work without them."""
    below = _modules(["gzbcat.db", "gzbcat.stages", "gzbcat.catalogue", *PURE])
    code = textwrap.dedent(
        f"""
        import importlib, sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.startswith(("gzbcat.api", "gzbcat.cli")):
                    raise ImportError(f"{{name}} imported from below the top")
                return None

        sys.meta_path.insert(0, Block())
        for module in {below!r}:
            importlib.import_module(module)
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
