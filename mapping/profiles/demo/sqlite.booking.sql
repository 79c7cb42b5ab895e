-- medsync profile "demo", SQLite: write statements for bookings made in ONDOC
-- (connectors/ondoc). Run inside one transaction by the connector:
--   book_lock → book_find_ext → book_check → book_insert → book_services → book_find_ext.
-- :wdate is an OLE day number, :bhour/:ehour day fractions, :modifydate an OLE
-- date-time, all in the branch's local time. 0.00001 day (< 1 s) absorbs float noise
-- so that back-to-back appointments do not count as overlapping.
-- The statements shared by every dialect are in common.booking.sql.

-- name: write.book_lock
-- Taken first: a no-op write that gives this transaction SQLite's write lock, so two
-- bookings are decided one after the other (the second waits for busy_timeout).
UPDATE DOCTORS SET DOCT_ID = DOCT_ID WHERE DOCT_ID = :doctor_id

-- name: write.book_insert
INSERT INTO SCHEDULE (SCHEDID, PCODE, DOCT_ID, FILIAL_ID, WDATE, BHOUR, EHOUR, STATUS, DELETED,
                      SOURCE, COMMENT, EXT_ID, MODIFYDATE)
SELECT COALESCE((SELECT MAX(SCHEDID) FROM SCHEDULE), 0) + 1, :patient_id, d.DOCT_ID, d.FILIAL_ID,
       :wdate, :bhour, :ehour, 0, 0, 2, :comment, :ext_id, :modifydate
FROM DOCTORS d
WHERE d.DOCT_ID = :doctor_id

-- name: write.cancel_ext
UPDATE SCHEDULE
SET DELETED = 1,
    DEL_REASON_ID = (SELECT MIN(REASON_ID) FROM DELREASONS WHERE TEXT = :reason_text),
    MODIFYDATE = :modifydate
WHERE EXT_ID = :ext_id AND DELETED = 0
