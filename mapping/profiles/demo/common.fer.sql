-- medsync profile "demo": the patient lookup of the ЕПГУ/ФЭР service (connectors/fer,
-- GetPatientInfo). Parameters (medsync passes them normalised, '' when not given):
--   :oms         ОМС policy number, digits and letters without spaces
--   :snils       СНИЛС, 11 digits
--   :last_name, :first_name  as cards keep them («Иванова»)
--   :birth_ole   birth date as an OLE day number (:birth_date is 'YYYY-MM-DD')
-- It returns the ids of live cards matching any of them, with match_rank 1 (policy),
-- 2 (СНИЛС) or 3 (name and birth date); medsync takes the best rank and refuses a tie.
-- The same SQL serves every dialect; a <dialect>.fer.sql may override it.

-- name: read.patient_lookup
SELECT PCODE AS id,
       CASE WHEN :oms <> '' AND REPLACE(POLIS, ' ', '') = :oms THEN 1
            WHEN :snils <> '' AND REPLACE(REPLACE(SNILS, '-', ''), ' ', '') = :snils THEN 2
            ELSE 3 END AS match_rank
FROM CLIENTS
WHERE DELETED = 0
  AND ((:oms <> '' AND REPLACE(POLIS, ' ', '') = :oms)
    OR (:snils <> '' AND REPLACE(REPLACE(SNILS, '-', ''), ' ', '') = :snils)
    OR (LASTNAME = :last_name AND FIRSTNAME = :first_name AND BDATE >= :birth_ole AND BDATE < :birth_ole + 1))
