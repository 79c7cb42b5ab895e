-- medsync profile "demo", MySQL/MariaDB: write statements for bookings made in ONDOC
-- (connectors/ondoc). Run inside one transaction by the connector:
--   book_lock → book_find_ext → book_check → book_insert → book_services → book_find_ext.
-- :wdate is an OLE day number, :bhour/:ehour day
-- fractions, :modifydate an OLE date-time, in the branch's local time.
-- The statements shared by every dialect are in common.booking.sql.

-- name: write.book_lock
-- Taken first, in a statement of its own (before any plain read fixes the transaction's
-- snapshot): the doctor's row lock serialises bookings of one doctor.
SELECT DOCT_ID FROM DOCTORS WHERE DOCT_ID = :doctor_id FOR UPDATE

-- name: write.book_insert
INSERT INTO SCHEDULE (SCHEDID, PCODE, DOCT_ID, FILIAL_ID, WDATE, BHOUR, EHOUR, STATUS, DELETED,
                      SOURCE, COMMENT, EXT_ID, MODIFYDATE)
SELECT COALESCE((SELECT MAX(m.SCHEDID) FROM SCHEDULE m), 0) + 1, :patient_id, d.DOCT_ID, d.FILIAL_ID,
       :wdate, :bhour, :ehour, 0, 0, 2, :comment, :ext_id, :modifydate
FROM DOCTORS d
WHERE d.DOCT_ID = :doctor_id

-- name: write.cancel_ext
UPDATE SCHEDULE
SET DELETED = 1,
    DEL_REASON_ID = (SELECT MIN(r.REASON_ID) FROM DELREASONS r WHERE r.TEXT = :reason_text),
    MODIFYDATE = :modifydate
WHERE EXT_ID = :ext_id AND DELETED = 0
