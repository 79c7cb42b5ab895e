-- medsync profile "demo": the MIS's справочник «Вредные факторы» for staff-list imports
-- (connectors/excel/README.md), and the correction of an employee's factors once the
-- registrar has recognised a code. Table VREDFACT comes from
-- mapping/demo/schema_<dialect>.factors.sql; PROFLIST from schema_<dialect>.staff.sql.

-- name: write.staff_factors
-- The codes an import accepts: a column code (and name, not used yet). No rows: the
-- connector falls back to its shipped list of приказ № 29н.
SELECT CODE AS code, NAME AS name
FROM VREDFACT
WHERE DELETED = 0

-- name: write.staff_list_factors
-- An employee's harmful factors on the organization's list after recognition.
UPDATE PROFLIST
SET FACTORS = :factors, MODIFYDATE = :now_ole
WHERE ORG_ID = :org AND PCODE = :patient_id
