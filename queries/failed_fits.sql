-- Subjects whose processing failed, or whose catalogue fit did not converge.
--
-- One row per problem: a stage unit in state 'failed' (any stage, with the error it
-- recorded), or a tuned model in the catalogue whose optimiser reported no convergence
-- (fits.converged false, with the optimiser's message). Empty when all is well.
SELECT
    u.subject_id,
    s.dr7objid,
    u.stage,
    'failed' AS problem,
    u.error AS detail
FROM stage_units AS u
JOIN subjects AS s ON s.subject_id = u.subject_id
WHERE u.state = 'failed'
UNION ALL
SELECT c.subject_id, c.dr7objid, 'tune', 'aggregate fit not converged', f.message
FROM catalogue AS c
JOIN fits AS f ON f.model_id = c.tuned_model_id
WHERE c.fit_converged = 0
UNION ALL
SELECT c.subject_id, c.dr7objid, 'tune', 'best-individual fit not converged', f.message
FROM catalogue AS c
JOIN fits AS f ON f.model_id = c.bi_tuned_model_id
WHERE c.bi_fit_converged = 0
ORDER BY subject_id, stage, problem;
