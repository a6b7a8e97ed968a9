-- Validation pairs: the same galaxy (same dr7objid) shown in two subjects, how much the two
-- tuned aggregate models differ (second subject minus first), and that difference divided by
-- the two errors combined, sqrt(err_1² + err_2²).
--
-- Galaxy Builder showed part of its sample twice (a validation subject set) to measure how
-- reproducible the volunteers' models are (`gzbcat simulate --repeats K` makes such pairs).
-- If the errors are right and the two measurements independent, the *_diff_over_err columns
-- scatter like a standard normal: spread 1, about 68 % within ±1. Differences are NULL until
-- both subjects are tuned, ratios also where an error is NULL (see the *_error_flags
-- columns of the catalogue). disk_roll_diff_rad is wrapped into [-π/2, π/2) because roll is
-- defined modulo π (both rolls lie in [0, π), so one shift by π is enough). Pitch angles are
-- those of the tuned arms, with their errors.
WITH pairs AS (
    SELECT
        a.dr7objid,
        a.subject_id AS subject_id_1,
        b.subject_id AS subject_id_2,
        a.subject_set_id AS subject_set_id_1,
        b.subject_set_id AS subject_set_id_2,
        b.disk_mux - a.disk_mux AS disk_mux_diff_px,
        SQRT(a.disk_mux_err * a.disk_mux_err + b.disk_mux_err * b.disk_mux_err)
            AS disk_mux_err_px,
        b.disk_muy - a.disk_muy AS disk_muy_diff_px,
        SQRT(a.disk_muy_err * a.disk_muy_err + b.disk_muy_err * b.disk_muy_err)
            AS disk_muy_err_px,
        b.disk_re - a.disk_re AS disk_re_diff_px,
        SQRT(a.disk_re_err * a.disk_re_err + b.disk_re_err * b.disk_re_err) AS disk_re_err_px,
        b.disk_q - a.disk_q AS disk_q_diff,
        SQRT(a.disk_q_err * a.disk_q_err + b.disk_q_err * b.disk_q_err) AS disk_q_err,
        CASE
            WHEN b.disk_roll - a.disk_roll >= 1.5707963267948966
                THEN b.disk_roll - a.disk_roll - 3.141592653589793
            WHEN b.disk_roll - a.disk_roll < -1.5707963267948966
                THEN b.disk_roll - a.disk_roll + 3.141592653589793
            ELSE b.disk_roll - a.disk_roll
        END AS disk_roll_diff_rad,
        SQRT(a.disk_roll_err * a.disk_roll_err + b.disk_roll_err * b.disk_roll_err)
            AS disk_roll_err_rad,
        b.bulge_fraction - a.bulge_fraction AS bulge_fraction_diff,
        SQRT(a.bulge_fraction_err * a.bulge_fraction_err
            + b.bulge_fraction_err * b.bulge_fraction_err) AS bulge_fraction_err,
        b.bar_fraction - a.bar_fraction AS bar_fraction_diff,
        SQRT(a.bar_fraction_err * a.bar_fraction_err + b.bar_fraction_err * b.bar_fraction_err)
            AS bar_fraction_err,
        b.n_arms - a.n_arms AS n_arms_diff,
        b.pitch_angle_deg - a.pitch_angle_deg AS pitch_angle_diff_deg,
        SQRT(a.pitch_angle_err_deg * a.pitch_angle_err_deg
            + b.pitch_angle_err_deg * b.pitch_angle_err_deg) AS pitch_angle_err_deg
    FROM catalogue AS a
    JOIN catalogue AS b ON b.dr7objid = a.dr7objid AND b.subject_id > a.subject_id
)
SELECT
    dr7objid, subject_id_1, subject_id_2, subject_set_id_1, subject_set_id_2,
    disk_re_diff_px, disk_q_diff, disk_roll_diff_rad, bulge_fraction_diff, bar_fraction_diff,
    n_arms_diff, pitch_angle_diff_deg,
    disk_mux_diff_px / NULLIF(disk_mux_err_px, 0) AS disk_mux_diff_over_err,
    disk_muy_diff_px / NULLIF(disk_muy_err_px, 0) AS disk_muy_diff_over_err,
    disk_re_diff_px / NULLIF(disk_re_err_px, 0) AS disk_re_diff_over_err,
    disk_q_diff / NULLIF(disk_q_err, 0) AS disk_q_diff_over_err,
    disk_roll_diff_rad / NULLIF(disk_roll_err_rad, 0) AS disk_roll_diff_over_err,
    bulge_fraction_diff / NULLIF(bulge_fraction_err, 0) AS bulge_fraction_diff_over_err,
    bar_fraction_diff / NULLIF(bar_fraction_err, 0) AS bar_fraction_diff_over_err,
    pitch_angle_diff_deg / NULLIF(pitch_angle_err_deg, 0) AS pitch_angle_diff_over_err
FROM pairs
ORDER BY dr7objid, subject_id_1, subject_id_2;
