-- medsync profile "demo", SQLite (the embedded demo database, medsync demo init).
-- Each statement starts with a "-- name: <entity>.<kind>" line and returns the columns of
-- the canonical contract (mapping/profiles/README.md); profile.ini converts OLE dates,
-- day fractions and codes. :from_ole / :to_ole are the poll window as OLE day numbers.
-- Statements that are the same for every dialect are in common.sql.

-- name: appointment.rows
SELECT s.SCHEDID AS id, s.PCODE AS patient_id, s.DOCT_ID AS doctor_id, s.FILIAL_ID AS branch_id,
       s.WDATE AS date, s.BHOUR AS start_time, s.EHOUR AS end_time,
       CASE WHEN s.DELETED = 1 THEN 'cancelled' ELSE CAST(s.STATUS AS TEXT) END AS status,
       CASE WHEN s.DELETED = 1 THEN r.TEXT END AS cancel_reason,
       s.SOURCE AS source,
       (SELECT group_concat(ss.SERV_ID, ',') FROM SCHEDSERV ss WHERE ss.SCHEDID = s.SCHEDID) AS service_ids,
       s.ROOM AS room, s.COMMENT AS comment, s.EXT_ID AS external_id, s.MODIFYDATE AS version,
       (s.SCHEDID * 2654435761 + CAST(s.MODIFYDATE * 86400000000 AS INTEGER) % 4294967291 * 40503) % 4294967291 AS checksum
FROM SCHEDULE s
LEFT JOIN DELREASONS r ON r.REASON_ID = s.DEL_REASON_ID
WHERE s.WDATE >= :from_ole AND s.WDATE < :to_ole

-- name: appointment.by_keys
SELECT s.SCHEDID AS id, s.PCODE AS patient_id, s.DOCT_ID AS doctor_id, s.FILIAL_ID AS branch_id,
       s.WDATE AS date, s.BHOUR AS start_time, s.EHOUR AS end_time,
       CASE WHEN s.DELETED = 1 THEN 'cancelled' ELSE CAST(s.STATUS AS TEXT) END AS status,
       CASE WHEN s.DELETED = 1 THEN r.TEXT END AS cancel_reason,
       s.SOURCE AS source,
       (SELECT group_concat(ss.SERV_ID, ',') FROM SCHEDSERV ss WHERE ss.SCHEDID = s.SCHEDID) AS service_ids,
       s.ROOM AS room, s.COMMENT AS comment, s.EXT_ID AS external_id, s.MODIFYDATE AS version,
       (s.SCHEDID * 2654435761 + CAST(s.MODIFYDATE * 86400000000 AS INTEGER) % 4294967291 * 40503) % 4294967291 AS checksum
FROM SCHEDULE s
LEFT JOIN DELREASONS r ON r.REASON_ID = s.DEL_REASON_ID
WHERE s.SCHEDID IN (:keys)
