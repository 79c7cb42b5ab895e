-- medsync profile "demo", MySQL/MariaDB: staff lists for check-ups (профосмотр), written by the
-- Excel connector (connectors/excel/README.md lists the parameters it passes).
-- Tables ORGS and PROFLIST come from mapping/demo/schema_mysql.staff.sql.
-- The statements shared by every dialect are in common.staff.sql.

-- name: write.staff_list_add
-- Adds the card to the organization's check-up list unless it is there already
-- (0 rows affected = already listed).
INSERT INTO PROFLIST (PL_ID, ORG_ID, PCODE, EXAM_TYPE, WORK_COND, FACTORS, JOB_TITLE, DEPARTMENT,
                      SOURCE_FILE, MODIFYDATE)
SELECT COALESCE((SELECT MAX(PL_ID) FROM PROFLIST), 0) + 1, :org, :patient_id, :exam_type, :conditions,
       :factors, :position, :department, :source_file,
       :now_ole
FROM DUAL
WHERE NOT EXISTS (SELECT 1 FROM PROFLIST P
                  WHERE P.ORG_ID = :org AND P.PCODE = :patient_id)
