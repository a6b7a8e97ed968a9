-- Validation pairs: the same galaxy (same dr7objid) shown in two subjects, and how much the
-- two tuned aggregate models differ (second subject minus first).
--
-- Galaxy Builder showed part of its sample twice (a validation subject set) to measure how
-- reproducible the volunteers' models are. Differences are NULL until both are tuned;
-- disk_roll_diff_rad is wrapped into [-π/2, π/2) because roll is defined modulo π
-- (both rolls lie in [0, π), so one shift by π is enough).
SELECT
    a.dr7objid,
    a.subject_id AS subject_id_1,
    b.subject_id AS subject_id_2,
    a.subject_set_id AS subject_set_id_1,
    b.subject_set_id AS subject_set_id_2,
    b.disk_re - a.disk_re AS disk_re_diff_px,
    b.disk_q - a.disk_q AS disk_q_diff,
    CASE
        WHEN b.disk_roll - a.disk_roll >= 1.5707963267948966
            THEN b.disk_roll - a.disk_roll - 3.141592653589793
        WHEN b.disk_roll - a.disk_roll < -1.5707963267948966
            THEN b.disk_roll - a.disk_roll + 3.141592653589793
        ELSE b.disk_roll - a.disk_roll
    END AS disk_roll_diff_rad,
    b.bulge_fraction - a.bulge_fraction AS bulge_fraction_diff,
    b.bar_fraction - a.bar_fraction AS bar_fraction_diff,
    b.n_arms - a.n_arms AS n_arms_diff,
    b.pitch_angle_deg - a.pitch_angle_deg AS pitch_angle_diff_deg
FROM catalogue AS a
JOIN catalogue AS b ON b.dr7objid = a.dr7objid AND b.subject_id > a.subject_id
ORDER BY a.dr7objid, a.subject_id, b.subject_id;
