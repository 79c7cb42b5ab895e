-- medsync profile "demo", SQLite: write statements of the one booking path
-- (connectors/booking). The order they run in and the OLE parameters are explained in
-- common.booking.sql; every parameter is listed in mapping/profiles/README.md.
-- The statements shared by every dialect are in common.booking.sql.

-- name: write.book_lock
-- Taken first: a no-op write that gives this transaction SQLite's write lock, so two
-- bookings are decided one after the other (the second waits for busy_timeout).
UPDATE DOCTORS SET DOCT_ID = DOCT_ID WHERE DOCT_ID = :doctor_id

-- name: write.book_insert
-- SCHEDULE.COMMENT is VARCHAR(500), EXT_ID VARCHAR(64):
-- limit :comment 500
-- limit :ext_id 64
INSERT INTO SCHEDULE (SCHEDID, PCODE, DOCT_ID, FILIAL_ID, WDATE, BHOUR, EHOUR, STATUS, DELETED,
                      SOURCE, COMMENT, EXT_ID, MODIFYDATE)
SELECT COALESCE((SELECT MAX(SCHEDID) FROM SCHEDULE), 0) + 1, :patient_id, d.DOCT_ID, COALESCE(:branch_id,
                (SELECT MIN(t.FILIAL_ID) FROM DOCTSHIFT t WHERE t.DOCT_ID = d.DOCT_ID AND t.WDATE = :ole_date
                   AND t.BEGHOUR <= :ole_start + 0.00001 AND t.ENDHOUR >= :ole_end - 0.00001),
                d.FILIAL_ID),
       :ole_date, :ole_start, :ole_end, 0, 0, 2, :comment, :ext_id, :ole_now
FROM DOCTORS d
WHERE d.DOCT_ID = :doctor_id

-- name: write.cancel_ext
UPDATE SCHEDULE
SET DELETED = 1,
    DEL_REASON_ID = (SELECT MIN(REASON_ID) FROM DELREASONS WHERE TEXT = :reason_text),
    MODIFYDATE = :ole_now
WHERE EXT_ID = :ext_id AND DELETED = 0

-- name: write.cancel_id
UPDATE SCHEDULE
SET DELETED = 1,
    DEL_REASON_ID = (SELECT MIN(REASON_ID) FROM DELREASONS WHERE TEXT = :reason_text),
    MODIFYDATE = :ole_now
WHERE SCHEDID = :appointment_id AND DELETED = 0
