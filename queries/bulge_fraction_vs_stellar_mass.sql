-- Bulge (and bar) light fraction of the tuned aggregate model against stellar mass.
--
-- Needs the Hart et al. (2017) table imported as `hart2017` (see pitch_angles_vs_hart_et_al_2017.sql);
-- its logMstar (column logmstar) is log10 of the stellar mass in solar masses. Only subjects
-- with a tuned aggregate model are listed; a model without a bulge (bar) has fraction 0.
SELECT
    c.subject_id,
    c.dr7objid,
    h.logmstar AS log_stellar_mass_msun,
    CASE WHEN c.has_bulge = 0 THEN 0.0 ELSE c.bulge_fraction END AS bulge_fraction,
    CASE WHEN c.has_bar = 0 THEN 0.0 ELSE c.bar_fraction END AS bar_fraction,
    c.has_bulge,
    c.has_bar
FROM catalogue AS c
JOIN ext_hart2017 AS h ON h.dr7objid = c.dr7objid
WHERE c.tuned_model_id IS NOT NULL
ORDER BY h.logmstar, c.subject_id;
