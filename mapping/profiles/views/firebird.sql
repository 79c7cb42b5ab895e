-- medsync profile "views", Firebird 3: DATE is a reserved word in Firebird, so the
-- views name that column "date" (quoted, lower case), and the {{date}} fragment of
-- common.sql's statements is "date" here. Everything else is common.sql.

-- fragment: date
"date"

-- name: read.patient_lookup
-- The ЕПГУ/ФЭР patient lookup of common.sql with typed parameters (Firebird types an
-- untyped parameter from the literal next to it: CHAR(0) next to '').
SELECT id,
       CASE WHEN CAST(:oms AS VARCHAR(30)) <> '' AND REPLACE(oms, ' ', '') = CAST(:oms AS VARCHAR(30)) THEN 1
            WHEN CAST(:snils AS VARCHAR(14)) <> '' AND REPLACE(REPLACE(snils, '-', ''), ' ', '') = CAST(:snils AS VARCHAR(14)) THEN 2
            ELSE 3 END AS match_rank
FROM MEDSYNC_PATIENT
WHERE deleted = 0
  AND ((CAST(:oms AS VARCHAR(30)) <> '' AND REPLACE(oms, ' ', '') = CAST(:oms AS VARCHAR(30)))
    OR (CAST(:snils AS VARCHAR(14)) <> '' AND REPLACE(REPLACE(snils, '-', ''), ' ', '') = CAST(:snils AS VARCHAR(14)))
    OR (last_name = CAST(:last_name AS VARCHAR(100)) AND first_name = CAST(:first_name AS VARCHAR(100))
        AND birth_date = CAST(:birth_date AS DATE)))
