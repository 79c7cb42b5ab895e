-- medsync profile "demo": staff lists for check-ups (профосмотр), written by the
-- Excel connector (connectors/excel/README.md lists the parameters it passes).
-- Tables ORGS and PROFLIST come from mapping/demo/schema_<dialect>.staff.sql.
-- These statements are the same SQL for every dialect; a dialect's own
-- <dialect>.staff.sql overrides a statement of the same name.

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
