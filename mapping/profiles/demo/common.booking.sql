-- medsync profile "demo": write statements for bookings made in ONDOC
-- (connectors/ondoc). Run inside one transaction by the connector:
--   book_lock → book_find_ext → book_check → book_insert → book_services → book_find_ext.
-- :wdate is an OLE day number, :bhour/:ehour day fractions, :modifydate an OLE
-- date-time, all in the branch's local time. 0.00001 day (< 1 s) absorbs float noise
-- so that back-to-back appointments do not count as overlapping.
-- These statements are the same SQL for every dialect; a dialect's own
-- <dialect>.booking.sql overrides a statement of the same name.

-- name: write.book_find_ext
SELECT SCHEDID AS id, DELETED AS deleted
FROM SCHEDULE
WHERE EXT_ID = :ext_id

-- name: write.book_check
SELECT CASE WHEN d.ENABLED = 1 AND COALESCE(d.HIDEINTALONS, 0) = 0 THEN 1 ELSE 0 END AS doctor_ok,
       (SELECT COUNT(*) FROM CLIENTS c WHERE c.PCODE = :patient_id AND c.DELETED = 0) AS patient_ok,
       (SELECT COUNT(*) FROM SCHEDULE s
         WHERE s.DOCT_ID = d.DOCT_ID AND s.WDATE = :wdate AND s.DELETED = 0
           AND s.BHOUR < :ehour - 0.00001 AND s.EHOUR > :bhour + 0.00001) AS busy
FROM DOCTORS d
WHERE d.DOCT_ID = :doctor_id

-- name: write.book_services
INSERT INTO SCHEDSERV (SCHEDID, SERV_ID)
SELECT s.SCHEDID, v.SERV_ID
FROM SCHEDULE s JOIN SERVICES v ON v.SERV_ID = :service_id
WHERE s.EXT_ID = :ext_id
