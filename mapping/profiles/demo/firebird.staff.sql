-- medsync profile "demo", Firebird 3: staff lists for check-ups (профосмотр), written by the
-- Excel connector (connectors/excel/README.md lists the parameters it passes).
-- Tables ORGS and PROFLIST come from mapping/demo/schema_firebird.staff.sql.
-- Parameters are CAST because Firebird cannot infer their types in expressions; a
-- SELECT without a table reads from RDB$DATABASE.

-- name: write.staff_contract_end
-- The organization's contract end (OLE day; NULL = open-ended). No row: unknown organization.
SELECT CONTRACT_END AS contract_end
FROM ORGS
WHERE ORG_ID = CAST(:org AS INTEGER)

-- name: write.staff_find_patient
-- Candidate cards by birth date (index IX_CLIENTS_BDATE); the connector compares the
-- names itself, case- and ё-insensitively.
SELECT PCODE AS id, LASTNAME AS last_name, FIRSTNAME AS first_name, MIDNAME AS middle_name
FROM CLIENTS
WHERE BDATE >= CAST(:birth_ole AS DOUBLE PRECISION) AND BDATE < CAST(:birth_ole AS DOUBLE PRECISION) + 1 AND DELETED = 0
ORDER BY PCODE

-- name: write.staff_new_patient_id
-- The new PCODE comes from the generator GEN_CLIENTS_ID, which two transactions never
-- share (MAX + 1 would give the MIS's own new card and the import's the same id, or
-- take an id the MIS's generator hands out later), and never below the largest PCODE,
-- should a program have inserted without it.
SELECT MAXVALUE(GEN_ID(GEN_CLIENTS_ID, 1), COALESCE((SELECT MAX(PCODE) FROM CLIENTS), 0) + 1) AS id
FROM RDB$DATABASE

-- name: write.staff_insert_patient
INSERT INTO CLIENTS (PCODE, CARDNUM, LASTNAME, FIRSTNAME, MIDNAME, BDATE, GENDER, PHONE1,
                     SMS_AGREE, EMAIL_AGREE, DELETED, LINK_REQUEST, MODIFYDATE)
VALUES (CAST(:id AS INTEGER), CAST(:card_number AS VARCHAR(30)), CAST(:last_name AS VARCHAR(100)), CAST(:first_name AS VARCHAR(100)), CAST(:middle_name AS VARCHAR(100)),
        CAST(:birth_ole AS DOUBLE PRECISION),
        CASE CAST(:sex AS VARCHAR(1)) WHEN 'M' THEN 1 WHEN 'F' THEN 2 ELSE NULL END,
        CAST(:phone AS VARCHAR(50)), 0, 0, 0, 0, CAST(:now_ole AS DOUBLE PRECISION))

-- name: write.staff_list_add
-- Adds the card to the organization's check-up list unless it is there already
-- (0 rows affected = already listed).
INSERT INTO PROFLIST (PL_ID, ORG_ID, PCODE, EXAM_TYPE, WORK_COND, FACTORS, JOB_TITLE, DEPARTMENT,
                      SOURCE_FILE, MODIFYDATE)
SELECT MAXVALUE(GEN_ID(GEN_PROFLIST_ID, 1), COALESCE((SELECT MAX(PL_ID) FROM PROFLIST), 0) + 1), CAST(:org AS INTEGER), CAST(:patient_id AS INTEGER), CAST(:exam_type AS SMALLINT), CAST(:conditions AS SMALLINT),
       CAST(:factors AS VARCHAR(500)), CAST(:position AS VARCHAR(200)), CAST(:department AS VARCHAR(200)), CAST(:source_file AS VARCHAR(260)),
       CAST(:now_ole AS DOUBLE PRECISION)
FROM RDB$DATABASE
WHERE NOT EXISTS (SELECT 1 FROM PROFLIST P
                  WHERE P.ORG_ID = CAST(:org AS INTEGER) AND P.PCODE = CAST(:patient_id AS INTEGER))
