-- medsync profile "demo", Firebird 3: the ЕПГУ/ФЭР patient lookup of common.fer.sql with
-- typed parameters (Firebird types an untyped parameter from the literal it meets:
-- CHAR(0) next to '').

-- name: read.patient_lookup
SELECT PCODE AS id,
       CASE WHEN CAST(:oms AS VARCHAR(30)) <> '' AND REPLACE(POLIS, ' ', '') = CAST(:oms AS VARCHAR(30)) THEN 1
            WHEN CAST(:snils AS VARCHAR(14)) <> '' AND REPLACE(REPLACE(SNILS, '-', ''), ' ', '') = CAST(:snils AS VARCHAR(14)) THEN 2
            ELSE 3 END AS match_rank
FROM CLIENTS
WHERE DELETED = 0
  AND ((CAST(:oms AS VARCHAR(30)) <> '' AND REPLACE(POLIS, ' ', '') = CAST(:oms AS VARCHAR(30)))
    OR (CAST(:snils AS VARCHAR(14)) <> '' AND REPLACE(REPLACE(SNILS, '-', ''), ' ', '') = CAST(:snils AS VARCHAR(14)))
    OR (LASTNAME = CAST(:last_name AS VARCHAR(100)) AND FIRSTNAME = CAST(:first_name AS VARCHAR(100))
        AND BDATE >= CAST(:birth_ole AS DOUBLE PRECISION) AND BDATE < CAST(:birth_ole AS DOUBLE PRECISION) + 1))
