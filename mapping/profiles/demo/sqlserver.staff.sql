-- medsync profile "demo", SQL Server: staff lists for check-ups (профосмотр), written by the
-- Excel connector (connectors/excel/README.md lists the parameters it passes).
-- Tables ORGS and PROFLIST come from mapping/demo/schema_sqlserver.staff.sql.

-- name: write.staff_contract_end
-- The organization's contract end (OLE day; NULL = open-ended). No row: unknown organization.
SELECT CONTRACT_END AS contract_end
FROM ORGS
WHERE ORG_ID = :org

-- name: write.staff_find_patient
-- Candidate cards by birth date (index IX_CLIENTS_BDATE); the connector compares the
-- names itself, case- and ё-insensitively.
SELECT PCODE AS id, LASTNAME AS last_name, FIRSTNAME AS first_name, MIDNAME AS middle_name
FROM CLIENTS
WHERE BDATE >= :birth_ole AND BDATE < :birth_ole + 1 AND DELETED = 0
ORDER BY PCODE

-- name: write.staff_new_patient_id
-- MAX alone in its subquery so that engines read it from the end of the key index.
SELECT COALESCE((SELECT MAX(PCODE) FROM CLIENTS), 0) + 1 AS id

-- name: write.staff_insert_patient
INSERT INTO CLIENTS (PCODE, CARDNUM, LASTNAME, FIRSTNAME, MIDNAME, BDATE, GENDER, PHONE1,
                     SMS_AGREE, EMAIL_AGREE, DELETED, LINK_REQUEST, MODIFYDATE)
VALUES (:id, :card_number, :last_name, :first_name, :middle_name,
        :birth_ole,
        CASE :sex WHEN 'M' THEN 1 WHEN 'F' THEN 2 ELSE NULL END,
        :phone, 0, 0, 0, 0, :now_ole)

-- name: write.staff_list_add
-- Adds the card to the organization's check-up list unless it is there already
-- (0 rows affected = already listed).
INSERT INTO PROFLIST (PL_ID, ORG_ID, PCODE, EXAM_TYPE, WORK_COND, FACTORS, JOB_TITLE, DEPARTMENT,
                      SOURCE_FILE, MODIFYDATE)
SELECT COALESCE((SELECT MAX(PL_ID) FROM PROFLIST), 0) + 1, :org, :patient_id, :exam_type, :conditions,
       :factors, :position, :department, :source_file,
       :now_ole
FROM (SELECT 1 AS ONE) D
WHERE NOT EXISTS (SELECT 1 FROM PROFLIST P
                  WHERE P.ORG_ID = :org AND P.PCODE = :patient_id)
