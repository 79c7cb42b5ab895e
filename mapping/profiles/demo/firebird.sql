-- medsync profile "demo", Firebird 3.
-- Each statement starts with a "-- name: <entity>.<kind>" line and returns the columns of
-- the canonical contract (mapping/profiles/README.md); profile.ini converts OLE dates,
-- day fractions and codes. :from_ole / :to_ole are the poll window as OLE day numbers.
-- Statements that are the same for every dialect are in common.sql; here is what
-- Firebird says in its own words: DATE is a reserved word, so the {{date}} fragment of
-- common.sql's statements is "date" (quoted, lower case) here, and LIST() aggregates
-- the service ids. The appointments' checksum is firebird.summary.sql's fragment.

-- fragment: date
"date"

-- fragment: appointment_select
SELECT s.SCHEDID AS id, s.PCODE AS patient_id, s.DOCT_ID AS doctor_id, s.FILIAL_ID AS branch_id,
       s.WDATE AS "date", s.BHOUR AS start_time, s.EHOUR AS end_time,
       CASE WHEN s.DELETED = 1 THEN 'cancelled' ELSE CAST(s.STATUS AS VARCHAR(10)) END AS status,
       CASE WHEN s.DELETED = 1 THEN r.TEXT END AS cancel_reason,
       s.SOURCE AS source,
       (SELECT CAST(LIST(ss.SERV_ID, ',') AS VARCHAR(2000)) FROM SCHEDSERV ss WHERE ss.SCHEDID = s.SCHEDID) AS service_ids,
       s.ROOM AS room, s.COMMENT AS comment, s.EXT_ID AS external_id, s.MODIFYDATE AS version,
       {{appointment_checksum}} AS checksum
FROM SCHEDULE s
LEFT JOIN DELREASONS r ON r.REASON_ID = s.DEL_REASON_ID

-- name: appointment.rows
{{appointment_select}}
WHERE s.WDATE >= :from_ole AND s.WDATE < :to_ole

-- name: appointment.by_keys
{{appointment_select}}
WHERE s.SCHEDID IN (:keys)
