"""The catalogue: the ``catalogue`` view, exports, read-only queries, external tables.

- :mod:`~gzbcat.catalogue.columns`: the one list of catalogue columns (view, export, docs);
- :mod:`~gzbcat.catalogue.view`: the view's SQL;
- :mod:`~gzbcat.catalogue.export`: FITS / ECSV / CSV export through astropy;
- :mod:`~gzbcat.catalogue.query`: one read-only statement, formatted;
- :mod:`~gzbcat.catalogue.external`: import a survey table as ``ext_<name>``;
- :mod:`~gzbcat.catalogue.crossmatch`: sky match of subjects to it;
- :mod:`~gzbcat.catalogue.figures`: subject and catalogue figures drawn from the database;
- :mod:`~gzbcat.catalogue.demo`: the catalogue's part of ``gzbcat demo``.

The commands over them live in :mod:`gzbcat.cli.catalogue`.
"""
