-- Pitch angles of the tuned aggregate's arms against Hart et al. (2017), matched on dr7objid.
--
-- Needs the Hart et al. (2017) table imported as `hart2017`:
--   gzbcat import-table ../shared/data/external/hart2017-gz2-sparcfire.csv \
--       --name hart2017 --ra ra --dec dec --key dr7objid
-- psi_sparcfire (measured by SpArcFiRe) and psi_gz2 (Hart et al.'s GZ2-based values) are
-- pitch-angle magnitudes in degrees; Hart writes -999 where there is none, NULL here.
-- pitch_angle_deg is the length-weighted mean over the tuned aggregate's arms, or the
-- aggregate's until it is tuned (spec §6.8): NULL for subjects without an aggregate model or
-- without arms.
SELECT
    c.subject_id,
    c.dr7objid,
    c.n_arms,
    c.pitch_angle_deg,
    c.pitch_angle_err_deg,
    NULLIF(h.psi_sparcfire, -999) AS psi_sparcfire_deg,
    NULLIF(h.psi_gz2, -999) AS psi_gz2_deg,
    c.pitch_angle_deg - NULLIF(h.psi_sparcfire, -999) AS minus_sparcfire_deg,
    c.pitch_angle_deg - NULLIF(h.psi_gz2, -999) AS minus_gz2_deg
FROM catalogue AS c
JOIN ext_hart2017 AS h ON h.dr7objid = c.dr7objid
ORDER BY c.subject_id;
