-- medsync profile "demo", Firebird 3.
-- Each statement starts with a "-- name: <entity>.<kind>" line and returns the columns of
-- the canonical contract (mapping/profiles/README.md); profile.ini converts OLE dates,
-- day fractions and codes. :from_ole / :to_ole are the poll window as OLE day numbers.
-- Statements that are the same for every dialect are in common.sql; here are the ones
-- Firebird needs in its own words: DATE is a reserved word, so the column is aliased
-- "date" (quoted, lower case); LIST() aggregates the service ids.

-- name: shift.rows
SELECT t.SHIFT_ID AS id, t.DOCT_ID AS doctor_id, t.FILIAL_ID AS branch_id,
       t.WDATE AS "date", t.BEGHOUR AS start_time, t.ENDHOUR AS end_time,
       t.BREAK_BEG AS break_start, t.BREAK_END AS break_end, t.ROOM AS room,
       d.SLOT_MIN AS slot_minutes,
       CASE WHEN t.MODIFYDATE > d.MODIFYDATE THEN t.MODIFYDATE ELSE d.MODIFYDATE END AS version
FROM DOCTSHIFT t
JOIN DOCTORS d ON d.DOCT_ID = t.DOCT_ID
WHERE t.WDATE >= :from_ole AND t.WDATE < :to_ole AND d.ENABLED = 1
ORDER BY t.DOCT_ID, t.WDATE, t.BEGHOUR

-- name: shift.by_keys
SELECT t.SHIFT_ID AS id, t.DOCT_ID AS doctor_id, t.FILIAL_ID AS branch_id,
       t.WDATE AS "date", t.BEGHOUR AS start_time, t.ENDHOUR AS end_time,
       t.BREAK_BEG AS break_start, t.BREAK_END AS break_end, t.ROOM AS room,
       d.SLOT_MIN AS slot_minutes,
       CASE WHEN t.MODIFYDATE > d.MODIFYDATE THEN t.MODIFYDATE ELSE d.MODIFYDATE END AS version
FROM DOCTSHIFT t
JOIN DOCTORS d ON d.DOCT_ID = t.DOCT_ID
WHERE t.SHIFT_ID IN (:keys) AND d.ENABLED = 1

-- name: slot.busy
-- Appointments that occupy a doctor's time: every one not cancelled.
SELECT DOCT_ID AS doctor_id, WDATE AS "date", BHOUR AS start_time, EHOUR AS end_time
FROM SCHEDULE
WHERE WDATE >= :from_ole AND WDATE < :to_ole AND DELETED = 0
ORDER BY DOCT_ID, WDATE

-- name: appointment.rows
SELECT s.SCHEDID AS id, s.PCODE AS patient_id, s.DOCT_ID AS doctor_id, s.FILIAL_ID AS branch_id,
       s.WDATE AS "date", s.BHOUR AS start_time, s.EHOUR AS end_time,
       CASE WHEN s.DELETED = 1 THEN 'cancelled' ELSE CAST(s.STATUS AS VARCHAR(10)) END AS status,
       CASE WHEN s.DELETED = 1 THEN r.TEXT END AS cancel_reason,
       s.SOURCE AS source,
       (SELECT CAST(LIST(ss.SERV_ID, ',') AS VARCHAR(2000)) FROM SCHEDSERV ss WHERE ss.SCHEDID = s.SCHEDID) AS service_ids,
       s.ROOM AS room, s.COMMENT AS comment, s.EXT_ID AS external_id, s.MODIFYDATE AS version
FROM SCHEDULE s
LEFT JOIN DELREASONS r ON r.REASON_ID = s.DEL_REASON_ID
WHERE s.WDATE >= :from_ole AND s.WDATE < :to_ole

-- name: appointment.by_keys
SELECT s.SCHEDID AS id, s.PCODE AS patient_id, s.DOCT_ID AS doctor_id, s.FILIAL_ID AS branch_id,
       s.WDATE AS "date", s.BHOUR AS start_time, s.EHOUR AS end_time,
       CASE WHEN s.DELETED = 1 THEN 'cancelled' ELSE CAST(s.STATUS AS VARCHAR(10)) END AS status,
       CASE WHEN s.DELETED = 1 THEN r.TEXT END AS cancel_reason,
       s.SOURCE AS source,
       (SELECT CAST(LIST(ss.SERV_ID, ',') AS VARCHAR(2000)) FROM SCHEDSERV ss WHERE ss.SCHEDID = s.SCHEDID) AS service_ids,
       s.ROOM AS room, s.COMMENT AS comment, s.EXT_ID AS external_id, s.MODIFYDATE AS version
FROM SCHEDULE s
LEFT JOIN DELREASONS r ON r.REASON_ID = s.DEL_REASON_ID
WHERE s.SCHEDID IN (:keys)
