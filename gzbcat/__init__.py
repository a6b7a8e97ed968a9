"""gzbcat: a database-backed catalogue of Galaxy Builder photometric models.

``gzbcat.open_catalogue(url)`` is the Python entry point (:mod:`gzbcat.api`); it and the
names beside it load on first use, so ``import gzbcat`` stays light (no database layer,
pandas or astropy until they are needed).
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("gzbcat")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

_API = ("Catalogue", "CatalogueError", "ModelSource", "open_catalogue")
"""Names of :mod:`gzbcat.api` that resolve here (PEP 562)."""

__all__ = ["Catalogue", "CatalogueError", "ModelSource", "__version__", "open_catalogue"]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module("gzbcat.api"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
