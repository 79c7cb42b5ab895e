-- medsync profile "demo", Firebird 3: write statements of the one booking path
-- (connectors/booking). The order they run in and the OLE parameters are explained in
-- common.booking.sql; every parameter is listed in mapping/profiles/README.md.
-- Parameters are CAST because Firebird cannot infer their types in a select list.

-- name: write.book_lock
-- Taken first, in a statement of its own: SELECT … WITH LOCK locks the doctor's row so
-- that bookings of one doctor are serialised (a second booking waits for the first to
-- commit, then fails with an update conflict and is retried on the next poll, when
-- book_check sees the first). Firebird takes the lock when the row is fetched; the
-- EXECUTE BLOCK fetches it inside the server, whatever the client does with the result. Its
-- variables are written :"NAME" (quoted) so that medsync does not take them for
-- parameters; no trigger fires, unlike a dummy UPDATE.
EXECUTE BLOCK (DID INTEGER = :doctor_id) AS
DECLARE D INTEGER;
BEGIN
  SELECT DOCT_ID FROM DOCTORS WHERE DOCT_ID = :"DID" WITH LOCK INTO :"D";
END

-- name: write.book_find_ext
SELECT SCHEDID AS id, DELETED AS deleted, FILIAL_ID AS branch_id, DOCT_ID AS doctor_id
FROM SCHEDULE
WHERE EXT_ID = CAST(:ext_id AS VARCHAR(64))

-- name: write.book_check
-- in_schedule: the interval lies inside a shift of the doctor that day, in the booked
-- branch (any branch when :branch_id is NULL), and does not overlap the shift's break.
SELECT CASE WHEN d.ENABLED = 1 AND COALESCE(d.HIDEINTALONS, 0) = 0 THEN 1 ELSE 0 END AS doctor_ok,
       (SELECT COUNT(*) FROM CLIENTS c WHERE c.PCODE = CAST(:patient_id AS INTEGER) AND c.DELETED = 0) AS patient_ok,
       (SELECT COUNT(*) FROM SCHEDULE s
         WHERE s.DOCT_ID = d.DOCT_ID AND s.WDATE = CAST(:ole_date AS DOUBLE PRECISION) AND s.DELETED = 0
           AND s.BHOUR < CAST(:ole_end AS DOUBLE PRECISION) - 0.00001
           AND s.EHOUR > CAST(:ole_start AS DOUBLE PRECISION) + 0.00001) AS busy,
       (SELECT COUNT(*) FROM DOCTSHIFT t
         WHERE t.DOCT_ID = d.DOCT_ID AND t.WDATE = CAST(:ole_date AS DOUBLE PRECISION)
           AND t.FILIAL_ID = COALESCE(CAST(:branch_id AS INTEGER), t.FILIAL_ID)
           AND t.BEGHOUR <= CAST(:ole_start AS DOUBLE PRECISION) + 0.00001
           AND t.ENDHOUR >= CAST(:ole_end AS DOUBLE PRECISION) - 0.00001
           AND (t.BREAK_BEG IS NULL OR t.BREAK_END IS NULL
                OR t.BREAK_END <= CAST(:ole_start AS DOUBLE PRECISION) + 0.00001
                OR t.BREAK_BEG >= CAST(:ole_end AS DOUBLE PRECISION) - 0.00001)) AS in_schedule
FROM DOCTORS d
WHERE d.DOCT_ID = CAST(:doctor_id AS INTEGER)

-- name: write.book_insert
-- The new SCHEDID comes from the generator GEN_SCHEDULE_ID, which two transactions
-- never share (MAX + 1 would give two bookings of different doctors the same id), and
-- never below the largest SCHEDID, should a program have inserted without it.
-- SCHEDULE.COMMENT is VARCHAR(500), EXT_ID VARCHAR(64):
-- limit :comment 500
-- limit :ext_id 64
INSERT INTO SCHEDULE (SCHEDID, PCODE, DOCT_ID, FILIAL_ID, WDATE, BHOUR, EHOUR, STATUS, DELETED,
                      SOURCE, COMMENT, EXT_ID, MODIFYDATE)
SELECT MAXVALUE(GEN_ID(GEN_SCHEDULE_ID, 1), COALESCE((SELECT MAX(m.SCHEDID) FROM SCHEDULE m), 0) + 1), CAST(:patient_id AS INTEGER),
       d.DOCT_ID, COALESCE(CAST(:branch_id AS INTEGER),
                (SELECT MIN(t.FILIAL_ID) FROM DOCTSHIFT t WHERE t.DOCT_ID = d.DOCT_ID AND t.WDATE = CAST(:ole_date AS DOUBLE PRECISION)
                   AND t.BEGHOUR <= CAST(:ole_start AS DOUBLE PRECISION) + 0.00001 AND t.ENDHOUR >= CAST(:ole_end AS DOUBLE PRECISION) - 0.00001),
                d.FILIAL_ID), CAST(:ole_date AS DOUBLE PRECISION), CAST(:ole_start AS DOUBLE PRECISION),
       CAST(:ole_end AS DOUBLE PRECISION), 0, 0, 2, CAST(:comment AS VARCHAR(500)),
       CAST(:ext_id AS VARCHAR(64)), CAST(:ole_now AS DOUBLE PRECISION)
FROM DOCTORS d
WHERE d.DOCT_ID = CAST(:doctor_id AS INTEGER)

-- name: write.book_services
INSERT INTO SCHEDSERV (SCHEDID, SERV_ID)
SELECT s.SCHEDID, v.SERV_ID
FROM SCHEDULE s JOIN SERVICES v ON v.SERV_ID = CAST(:service_id AS INTEGER)
WHERE s.EXT_ID = CAST(:ext_id AS VARCHAR(64))

-- name: write.cancel_ext
UPDATE SCHEDULE
SET DELETED = 1,
    DEL_REASON_ID = (SELECT MIN(r.REASON_ID) FROM DELREASONS r WHERE r.TEXT = CAST(:reason_text AS VARCHAR(200))),
    MODIFYDATE = CAST(:ole_now AS DOUBLE PRECISION)
WHERE EXT_ID = CAST(:ext_id AS VARCHAR(64)) AND DELETED = 0

-- name: write.appointment_find
SELECT SCHEDID AS id, DELETED AS deleted, FILIAL_ID AS branch_id, DOCT_ID AS doctor_id
FROM SCHEDULE
WHERE SCHEDID = CAST(:appointment_id AS INTEGER)

-- name: write.cancel_id
UPDATE SCHEDULE
SET DELETED = 1,
    DEL_REASON_ID = (SELECT MIN(r.REASON_ID) FROM DELREASONS r WHERE r.TEXT = CAST(:reason_text AS VARCHAR(200))),
    MODIFYDATE = CAST(:ole_now AS DOUBLE PRECISION)
WHERE SCHEDID = CAST(:appointment_id AS INTEGER) AND DELETED = 0
