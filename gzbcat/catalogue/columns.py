"""The catalogue's columns: one list that the view, the export and the documentation share.

Every column of the ``catalogue`` view is one :class:`CatalogueColumn` here, with its name,
unit, meaning, the SQL expression that computes it and the NumPy type it is exported as. The
view SQL (:mod:`gzbcat.catalogue.view`), the astropy table of an export
(:mod:`gzbcat.catalogue.export`) and ``docs/catalogue.md`` are all generated from
:data:`CATALOGUE_COLUMNS`, so the three cannot drift apart; tests check that the migrated view
and the committed documentation still equal what this list generates.

The expressions refer to the table aliases of the view's ``FROM`` clause
(:data:`gzbcat.catalogue.view.FROM_CLAUSE`): ``s`` (subjects), ``p`` (the models picked per
subject), and per model family ``disk``/``bulge``/``bar`` (components), ``fit`` (fits),
``arm_stats`` (arm counts and combined pitch angle) and ``arm0`` … ``arm3`` (arms), the last
four sets with a ``bi_`` prefix for the best-individual family.

Run ``python -m gzbcat.catalogue.columns > docs/catalogue.md`` to regenerate the documentation.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CATALOGUE_COLUMNS",
    "COMPONENTS",
    "COMPONENT_PARAMETERS",
    "FAMILIES",
    "N_ARM_COLUMNS",
    "CatalogueColumn",
    "column_names",
    "markdown",
]

N_ARM_COLUMNS = 4
"""Per-arm columns are given for arms 0 … 3 (``arms.arm_index``); ``n_arms`` counts them all."""

COMPONENTS = ("disk", "bulge", "bar")

COMPONENT_PARAMETERS: tuple[tuple[str, str | None, str], ...] = (
    ("mux", "pix", "centre column in the image frame (x; pixel centres at integers)"),
    ("muy", "pix", "centre row in the image frame (y; origin at the first pixel's centre)"),
    ("roll", "rad", "major-axis position angle in the image frame, in [0, π)"),
    ("re", "pix", "effective (half-light) radius along the major axis"),
    ("q", None, "axis ratio, minor / major, in (0, 1]"),
    ("intensity", None, "surface brightness at re, in the units of the subject image per pixel"),
    ("n", None, "Sérsic index"),
    ("c", None, "boxiness of the isophotes (2 = ellipse)"),
)
"""(parameter, unit, meaning) of every component column, in the order of ``components``."""

FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("", "aggregate", "the tuned aggregate model"),
    ("bi_", "best_individual", "the tuned best-individual model"),
)
"""(column prefix, kind of the model the tuned model started from, words for the docs)."""

_POSTERIOR = {
    "aggregate": "pixel likelihood and the priors centred on the aggregate (spec §8.3)",
    "best_individual": "pixel likelihood alone (no priors, spec §8.9)",
}


def _tuned_error(prefix: str, name: str, source_kind: str, flags: str) -> str:
    """Description of a tuned model's ``_err`` column."""
    return (
        f"1σ error of {prefix}{name}: the width of the fit's posterior "
        f"({_POSTERIOR[source_kind]}) at its optimum, from the Hessian of the negative log "
        f"posterior carried to this quantity, times {prefix}error_scale; NULL where unknown, "
        f"with the reason in {prefix}{flags}"
    )


@dataclass(frozen=True)
class CatalogueColumn:
    """One column of the ``catalogue`` view and of every export.

    Attributes
    ----------
    name
        Column name, snake_case, with the unit in the name where DESIGN §6 asks for it.
    unit
        Astropy unit string, or None for dimensionless quantities, ids, counts and flags.
    description
        One sentence: what the value is and where it comes from (shown in the docs and
        written into FITS and ECSV headers).
    sql
        The SQL expression computing it in the view, valid on SQLite and PostgreSQL.
    dtype
        NumPy type of the exported column: ``int64`` for ids and counts (exact 64-bit
        ids), ``int16`` for flags (0/1) and chirality (+1/−1), else ``float64``.
    """

    name: str
    unit: str | None
    description: str
    sql: str
    dtype: str = "float64"


def _subject_columns() -> list[CatalogueColumn]:
    return [
        CatalogueColumn("subject_id", None, "Zooniverse subject id", "s.subject_id", "int64"),
        CatalogueColumn(
            "subject_set_id", None, "Zooniverse subject set", "s.subject_set_id", "int64"
        ),
        CatalogueColumn("dr7objid", None, "SDSS DR7 objid", "s.dr7objid", "int64"),
        CatalogueColumn("nsa_id", None, "NASA-Sloan Atlas id (NSAID)", "s.nsa_id", "int64"),
        CatalogueColumn(
            "ra_deg", "deg", "J2000 right ascension, from the subject metadata", "s.ra_deg"
        ),
        CatalogueColumn(
            "dec_deg", "deg", "J2000 declination, from the subject metadata", "s.dec_deg"
        ),
        CatalogueColumn("redshift", None, "redshift, from the subject metadata", "s.redshift"),
        CatalogueColumn(
            "petrosian_radius_arcsec",
            "arcsec",
            "SDSS r-band Petrosian radius, from the subject metadata",
            "s.petrosian_radius_arcsec",
        ),
        CatalogueColumn(
            "n_classifications",
            None,
            "volunteer classifications of this subject in the database (any parse status)",
            "(SELECT COUNT(*) FROM classifications AS c\n"
            "        WHERE c.subject_id = s.subject_id)",
            "int64",
        ),
    ]


def _family_columns(prefix: str, source_kind: str, words: str) -> list[CatalogueColumn]:
    """The columns of one model family (aggregate, or best individual with ``bi_``)."""
    source = source_kind.replace("_", "-")
    article = "an" if source[0] in "aeiou" else "a"
    columns = [
        CatalogueColumn(
            f"{prefix}tuned_model_id",
            None,
            f"models.model_id of {words} (the newest tuned model started from {article} "
            f"{source} model); NULL until the subject is tuned",
            f"p.{prefix}tuned_model_id",
            "int64",
        ),
        CatalogueColumn(
            f"{prefix}source_model_id",
            None,
            f"models.model_id of the {source} model it started from (without a tuned model: "
            f"the newest {source} model); the arm columns describe this model",
            f"p.{prefix}source_model_id",
            "int64",
        ),
    ]
    for component in COMPONENTS:
        for parameter, unit, meaning in COMPONENT_PARAMETERS:
            alias = f"{prefix}{component}"
            columns.append(
                CatalogueColumn(
                    f"{prefix}{component}_{parameter}",
                    unit,
                    f"{component} {meaning}; {words}",
                    f"{alias}.{parameter}",
                )
            )
            columns.append(
                CatalogueColumn(
                    f"{prefix}{component}_{parameter}_err",
                    unit,
                    _tuned_error(
                        prefix, f"{component}_{parameter}", source_kind, f"{component}_error_flags"
                    ),
                    f"{alias}.{parameter}_err",
                )
            )
        columns.append(
            CatalogueColumn(
                f"{prefix}{component}_error_flags",
                None,
                f"why a {prefix}{component}_*_err is NULL: comma-separated parameter:flag pairs, "
                "flag fixed (not fitted, e.g. the disk's n and c), at_bound (the fit left it on "
                "a bound of spec §8.4) or undetermined (the posterior's curvature does not "
                "constrain it); NULL when nothing is missing",
                f"{alias}.error_flags",
                "str",
            )
        )
    fit = f"{prefix}fit"
    tuned = f"p.{prefix}tuned_model_id"
    columns += [
        CatalogueColumn(
            f"{prefix}bulge_fraction",
            None,
            f"bulge share of the total flux of {words} (spec §8.8)",
            f"{fit}.bulge_fraction",
        ),
        CatalogueColumn(
            f"{prefix}bar_fraction",
            None,
            f"bar share of the total flux of {words} (spec §8.8)",
            f"{fit}.bar_fraction",
        ),
        CatalogueColumn(
            f"{prefix}spiral_fraction",
            None,
            f"spiral-arm share of the total flux of {words} (spec §8.8)",
            f"{fit}.spiral_fraction",
        ),
        CatalogueColumn(
            f"{prefix}flux",
            "nmgy",
            f"total r-band flux of {words}, nanomaggies (1 nmgy = 3.631 µJy; spec §8.8)",
            f"{fit}.flux",
        ),
        CatalogueColumn(
            f"{prefix}magnitude",
            "mag",
            f"Pogson r-band magnitude of {words}, 22.5 − 2.5 log10(flux / nmgy)",
            f"{fit}.magnitude",
        ),
        *(
            CatalogueColumn(
                f"{prefix}{name}_err",
                unit,
                _tuned_error(prefix, name, source_kind, "fit_error_flags"),
                f"{fit}.{name}_err",
            )
            for name, unit in (
                ("bulge_fraction", None),
                ("bar_fraction", None),
                ("spiral_fraction", None),
                ("flux", "nmgy"),
                ("magnitude", "mag"),
            )
        ),
        CatalogueColumn(
            f"{prefix}fit_error_flags",
            None,
            f"why a fraction, flux or magnitude error of {words} is NULL: comma-separated "
            "quantity:flag pairs (fixed: the part is absent; at_bound; undetermined)",
            f"{fit}.error_flags",
            "str",
        ),
        CatalogueColumn(
            f"{prefix}error_scale",
            None,
            f"factor every _err of {words} was multiplied by: sqrt({prefix}chi2_nu) where "
            f"{prefix}chi2_nu > 1 (the model does not fit to the noise), else 1; divide by it "
            "for the errors of the posterior's curvature alone; NULL if errors were not computed",
            f"{fit}.error_scale",
        ),
        CatalogueColumn(
            f"{prefix}hessian_positive_definite",
            None,
            f"1 if every fitted direction of {words} has positive curvature, 0 if some do not "
            "(their parameters are flagged undetermined), NULL if not computed",
            f"CASE WHEN {fit}.hessian_positive_definite IS NULL THEN NULL\n"
            f"        WHEN {fit}.hessian_positive_definite THEN 1 ELSE 0 END",
            "int16",
        ),
        CatalogueColumn(
            f"{prefix}chi2_nu",
            None,
            f"reduced χ² of {words}: Σ((PSF⊗model − data)/σ)² over the unmasked pixels, "
            "divided by their number less the fitted parameters (corrected method; the "
            "reference method divides by the pixels alone, as published, spec §8.8)",
            f"{fit}.chi2_nu",
        ),
        CatalogueColumn(
            f"{prefix}fit_converged",
            None,
            f"1 if the optimiser of {words} reported convergence, 0 if not, NULL if unknown",
            f"CASE WHEN {fit}.converged IS NULL THEN NULL\n"
            f"        WHEN {fit}.converged THEN 1 ELSE 0 END",
            "int16",
        ),
        CatalogueColumn(
            f"{prefix}has_bulge",
            None,
            f"1 if {words} has a bulge, 0 if not, NULL without a tuned model",
            f"CASE WHEN {tuned} IS NULL THEN NULL\n"
            f"        WHEN {prefix}bulge.model_id IS NULL THEN 0 ELSE 1 END",
            "int16",
        ),
        CatalogueColumn(
            f"{prefix}has_bar",
            None,
            f"1 if {words} has a bar, 0 if not, NULL without a tuned model",
            f"CASE WHEN {tuned} IS NULL THEN NULL\n"
            f"        WHEN {prefix}bar.model_id IS NULL THEN 0 ELSE 1 END",
            "int16",
        ),
        CatalogueColumn(
            f"{prefix}n_arms",
            None,
            f"number of spiral arms of {words}, or of the {source} model until it is tuned "
            "(NULL without either)",
            f"CASE WHEN p.{prefix}source_model_id IS NULL THEN NULL\n"
            f"        ELSE COALESCE({prefix}arm_stats.n_arms, 0) END",
            "int64",
        ),
        CatalogueColumn(
            f"{prefix}pitch_angle_deg",
            "deg",
            f"length-weighted mean pitch angle (magnitude) of the arms of {words}, or of the "
            f"{source} model until it is tuned, Σ L_i·φ_i / Σ L_i (spec §6.8)",
            f"{prefix}arm_stats.pitch_angle_deg",
        ),
        CatalogueColumn(
            f"{prefix}pitch_angle_err_deg",
            "deg",
            f"1σ error of {prefix}pitch_angle_deg: sqrt(Σ L_i²·σ_i²) / Σ L_i from the arms' "
            f"{prefix}pitch_angle_<i>_err_deg, the arms taken as independent (spec §6.8; NULL "
            "if an arm lacks its error)",
            f"{prefix}arm_stats.pitch_angle_err_deg",
        ),
    ]
    for i in range(N_ARM_COLUMNS):
        arm = f"{prefix}arm{i}"
        columns += [
            CatalogueColumn(
                f"{prefix}pitch_angle_{i}_deg",
                "deg",
                f"pitch angle (magnitude) of arm {i} (arm_index {i}) of {words}, or of the "
                f"{source} model until it is tuned",
                f"{arm}.pitch_angle_deg",
            ),
            CatalogueColumn(
                f"{prefix}pitch_angle_{i}_err_deg",
                "deg",
                f"1σ error of {prefix}pitch_angle_{i}_deg: once tuned, the width of the fit's "
                "posterior (as for the components); before, the log-spiral fit's slope error "
                f"and the volunteers' disagreement ({prefix}pitch_angle_{i}_scatter_deg over "
                "the square root of the traces that have their own pitch) in quadrature, or "
                "after gzbcat aggregate --bootstrap N the spread over the N resampled crowds",
                f"{arm}.pitch_angle_err_deg",
            ),
            CatalogueColumn(
                f"{prefix}pitch_angle_{i}_scatter_deg",
                "deg",
                f"spread of the volunteers' own pitch angles about arm {i}'s in the {source} "
                "model (1.4826 × median absolute deviation of each trace's log-spiral pitch): "
                "their disagreement, not an error of the arm; NULL with fewer than two usable "
                "traces",
                f"{arm}.pitch_angle_scatter_deg",
            ),
            CatalogueColumn(
                f"{prefix}chirality_{i}",
                None,
                f"winding of arm {i} of {words} (the {source} model until it is tuned): +1 or "
                "−1, the sign of its log-spiral slope (spec §6.6)",
                f"{arm}.chirality",
                "int16",
            ),
        ]
    return columns


CATALOGUE_COLUMNS: tuple[CatalogueColumn, ...] = tuple(
    _subject_columns() + [column for family in FAMILIES for column in _family_columns(*family)]
)
"""Every column of the ``catalogue`` view, in view order."""


def column_names() -> list[str]:
    """The view's column names, in order."""
    return [column.name for column in CATALOGUE_COLUMNS]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    """``docs/catalogue.md``: every column with its unit and meaning, plus how to use them."""
    lines = [
        "# The `catalogue` view and its exports",
        "",
        "<!-- Generated by `python -m gzbcat.catalogue.columns > docs/catalogue.md`;"
        " do not edit by hand. -->",
        "",
        "`catalogue` is a database view with one row per subject. `gzbcat export OUT` writes",
        "it to FITS, ECSV or CSV (by the extension of OUT) with the units and descriptions",
        "below; FITS and ECSV headers also carry the gzbcat version (`GZBCVER`), the science",
        "method of the models (`METHOD`) and the export date (`DATE`).",
        "",
        "Model columns come in two families: unprefixed for the tuned *aggregate* model, and",
        "with a `bi_` prefix for the tuned *best-individual* model. The tuned model of a family",
        "is the newest (highest `model_id`) model of kind `tuned` whose `source_model_id` is an",
        "aggregate (best-individual) model; its component parameters and fit results are NULL",
        "until the subject has been tuned. Arm columns describe the model the tuned model",
        "started from (without a tuned model: the newest aggregate or best-individual model),",
        "because tuning keeps the arms' shape. Positions and sizes are in the image frame of",
        "DESIGN §6, in pixels of the subject image; angles are radians (`roll`) or degrees",
        "(`*_deg`). Flags are 0/1 integers, NULL when unknown.",
        "",
        "| column | unit | meaning |",
        "|---|---|---|",
    ]
    for column in CATALOGUE_COLUMNS:
        lines.append(f"| `{column.name}` | {column.unit or ''} | {_cell(column.description)} |")
    lines += [
        "",
        "## Errors, scatter and flags",
        "",
        "Every `*_err` column is a 1σ error: the standard deviation the value would have over",
        "repeated observations and crowds, calibrated against simulated galaxies of known truth",
        "by `scripts/bench_uncertainty.py`. A spread of the volunteers is never called an",
        "error: it is a `*_scatter`. NULL means unknown, and the matching flag column says why.",
        "",
        "- **Tuned component parameters, light fractions, flux, magnitude** (`disk_re_err`,",
        "  `bulge_fraction_err`, …): the width of the fit's posterior at its optimum. The",
        "  Hessian of the negative log posterior (pixel likelihood, plus for the aggregate",
        "  family the priors centred on the aggregate's components, spec §8.3) is measured by",
        "  forward differences of the analytic gradient, inverted through its",
        "  eigen-decomposition, and carried to each column with the Jacobian of the mapping",
        "  from the fitted vector (including the q > 1 fold of spec §8.7). Where the model does",
        "  not fit to the noise (χ²_ν > 1) every error is multiplied by `error_scale` =",
        "  sqrt(χ²_ν); divide by it for the curvature alone. The arms' log-spiral geometry",
        "  (A, pitch, θ range) has no prior in `corrected` mode, so the pixels place the arms",
        "  and the tuned pitch angle's error is the image's; `reference` mode pins it with",
        "  spec §8.3's A ± 0.01 px, φ ± 1°, θ ± 0.5°, and its errors are then too small (spec",
        "  §12.2). These errors are conditional on the model: they do not include what a wrong",
        "  model costs beyond that scale (an arm that is not a log spiral, a bar that is not",
        "  there).",
        "- **Flags** (`<component>_error_flags`, `fit_error_flags`): comma-separated",
        "  `parameter:flag` pairs. `fixed`: not fitted (the disk's n and c, the bulge's c; a",
        "  part that is absent). `at_bound`: the fit left the parameter on a bound of spec §8.4",
        "  (its posterior is cut there; the other errors are conditional on it).",
        "  `undetermined`: the posterior's curvature is zero (or negative) along a direction",
        "  the parameter takes part in, so no finite error exists; `hessian_positive_definite`",
        "  is then 0.",
        "- **Pitch angles** (`pitch_angle_<i>_deg`, combined in `pitch_angle_deg`) are the",
        "  tuned model's arms once the subject is tuned, with the posterior's errors; before",
        "  that, the source model's.",
        "- **Aggregate arms' pitch angles** (before tuning, and in the `arms` table): the",
        "  `pitch_angle_err_deg` is the log-spiral fit's slope error and the volunteers'",
        "  disagreement over the square root of their number, in quadrature; with",
        "  `gzbcat aggregate --bootstrap N`, the spread over N seeded resamples of the",
        "  volunteers, which also covers uncertain cluster membership (the benchmark finds the",
        "  bootstrap the calibrated one). `pitch_angle_<i>_scatter_deg` is the volunteers'",
        "  spread itself.",
        "",
        "The tables hold more than the view: `components.<param>_scatter` is the spread of an",
        "aggregate's cluster members (what the published pipeline called its errors, spec",
        "§5.5, and the tuning priors' widths); an aggregate component's `<param>_err` is the",
        "error of the aggregate itself, that spread over the square root of the members, or",
        "the bootstrap spread after `--bootstrap N` (`bootstrap_found` of",
        "`bootstrap_resamples` says in how many resamples the part was found).",
        "",
        "## Units",
        "",
        "`pix`: pixels of the subject image (Galaxy Builder cutouts); `rad`, `deg`: angles;",
        "`arcsec`: arcseconds on the sky; `nmgy`: nanomaggies (1 nmgy = 3.631 µJy; FITS has",
        "no name for it, so FITS files state it in the column description instead of `TUNITn`);",
        "`mag`: Pogson magnitudes with zero point 22.5.",
        "",
        "## Exports",
        "",
        "- FITS: a binary table; `TUNITn` units, `TCOMMn` descriptions, NULL as `TNULLn` for",
        "  integers and NaN for floats.",
        "- ECSV: units, descriptions and types in the YAML header; NULL as empty fields.",
        "- CSV: a plain header of column names; NULL as empty fields. Units are on this page.",
        "",
        "Read them back with `astropy.table.Table.read(path)`.",
        "",
        "## Queries",
        "",
        "`gzbcat query SQL|FILE.sql [--format table|csv|json] [--param NAME=VALUE]`",
        "`[--timeout SECONDS]` runs one statement that may only read the catalogue. Parameters are",
        "`:name` in the SQL; values that read as integers or floats are passed as numbers.",
        "`queries/` holds documented examples that run on both backends (below).",
        "",
        "The statement is not trusted: it runs in a sandbox that each backend enforces itself, not",
        "by scanning the text.",
        "",
        "- **SQLite**: the file is opened read-only (URI `mode=ro`; a missing file is an error,",
        "  never created) with `PRAGMA query_only`, and an authorizer allows reading tables and",
        "  calling functions only. `ATTACH`/`DETACH` (and `VACUUM INTO`, which attaches its",
        "  output), writes, `load_extension()` and `PRAGMA`s other than those that report",
        "  (`table_info(…)`, `index_list(…)`, `user_version`, …; none with a value to set) are",
        "  refused.",
        "- **PostgreSQL**: `gzbcat init` creates the role `gzbcat_reader` (`NOLOGIN`, no",
        "  superuser; one per server, shared by every catalogue on it) if it is missing, and",
        "  grants it `USAGE` on the catalogue's schema and `SELECT` on every table and view in it;",
        "  `import-table` grants it each `ext_` table. A login that is not a superuser must be a",
        "  member of the role (init makes it one if it may; otherwise init warns, and an",
        "  administrator runs `GRANT gzbcat_reader TO <login>`). The query runs in a `READ ONLY`",
        "  transaction after `SET LOCAL ROLE gzbcat_reader`, inside a temporary `SECURITY DEFINER`",
        "  function owned by that role, so it cannot switch back to the login's role",
        "  (`set_config('role', …)` is refused there), even when the login is a superuser. Writes,",
        "  writing CTEs, `COPY … TO` a file or program, `DO` blocks, `pg_read_file`, `lo_export`",
        "  and other superuser-only functions are refused. Only statements that return rows run",
        "  (`SELECT`, `WITH`, `VALUES`, `TABLE`, `EXPLAIN`, `SHOW`); a result column of a",
        "  pseudo-type such as `void` (`SELECT pg_sleep(1)`) must be cast, e.g. `::text`. The",
        "  session function needs a server that accepts writes (a primary, not a hot standby).",
        "- **One statement**: PostgreSQL parses the statement alone with the extended protocol,",
        "  which refuses several commands; Python's `sqlite3` refuses a second statement. No",
        "  quoting (`E'…'`, `$$…$$`, comments) can smuggle a `COMMIT` through.",
        "- **Time**: `--timeout SECONDS` (default 60; 0 for no limit) cancels the statement",
        "  (PostgreSQL `statement_timeout`, SQLite a progress handler).",
        "",
        "A refused, failed or cancelled statement prints one line saying why and exits with code",
        "2; nothing is changed.",
        "",
        "The examples in `queries/`:",
        "",
        "- `pitch_angles_vs_hart_et_al_2017.sql`: pitch angles against Hart et al. (2017)",
        "  SpArcFiRe and GZ2 values, by `dr7objid`;",
        "- `bulge_fraction_vs_stellar_mass.sql`: bulge and bar fractions against log stellar",
        "  mass;",
        "- `validation_pairs.sql`: the same galaxy in two subjects, with parameter differences;",
        "- `failed_fits.sql`: failed stage units and unconverged fits.",
        "",
        "The first two need the Hart et al. (2017) table imported as `hart2017`:",
        "",
        "```",
        "gzbcat import-table ../shared/data/external/hart2017-gz2-sparcfire.csv \\",
        "    --name hart2017 --ra ra --dec dec --key dr7objid",
        "gzbcat crossmatch hart2017 --radius 2arcsec",
        "gzbcat query queries/pitch_angles_vs_hart_et_al_2017.sql --format csv",
        "gzbcat query 'SELECT subject_id FROM catalogue WHERE dr7objid = :id' \\",
        "    --param id=587741421632356667",
        "```",
        "",
        "## External tables",
        "",
        "`gzbcat import-table FILE --name NAME [--ra COL --dec COL] [--key COL …]` reads FITS,",
        "VOTable, ECSV or CSV (by extension) with astropy into the table `ext_<NAME>`, registered",
        "in `external_tables`; a re-import replaces it (and its cross-matches) in one",
        "transaction, and a failed import changes nothing.",
        "",
        "- Column names are lower-cased, other characters than letters, digits and `_` become",
        "  `_` (`NSAID` → `nsaid`, `logMstar` → `logmstar`); `row_index` (0-based row in the",
        "  file) is added as the primary key.",
        "- Integers become `BIGINT` and stay exact (`dr7objid` 587741421632356667 is never",
        "  read through a float). A float column whose non-empty values are all whole numbers",
        "  below 2³¹ (ids written as `417673.0`, like Hart's `NSAID`, `RUN`, `FIELD`) becomes",
        "  `BIGINT` too, so joins on ids are exact; larger whole numbers (stellar masses such as",
        "  `23059214000.0`) and the `--ra`/`--dec` columns stay floats.",
        "- Empty cells, masked values and NaN become NULL. Sentinels are kept as they are:",
        "  Hart's `psi_sparcfire = -999` means no measurement; queries use",
        "  `NULLIF(psi_sparcfire, -999)`.",
        "- Vector columns (several values per row) are skipped and reported.",
        "- Key columns and (dec, ra) are indexed.",
        "",
        "`gzbcat crossmatch NAME --radius 2arcsec [--all]` matches every subject with a position",
        "to the nearest row within the radius (`--all`: every row within it), both positions",
        "J2000 degrees, and replaces the table's rows in `crossmatches`: `row_key` is the first",
        "`--key` column's value as text (else `row_index`), `separation_arcsec` the separation.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
