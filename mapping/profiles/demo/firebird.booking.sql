-- medsync profile "demo", Firebird 3: write statements for bookings made in ONDOC
-- (connectors/ondoc). Run inside one transaction by the connector:
--   book_lock → book_find_ext → book_check → book_insert → book_services → book_find_ext.
-- Parameters are CAST because Firebird cannot infer their types in a select list.
-- :wdate is an OLE day number, :bhour/:ehour day fractions, :modifydate an OLE
-- date-time, in the branch's local time.

-- name: write.book_lock
-- Taken first, in a statement of its own: SELECT … WITH LOCK locks the doctor's row so
-- that bookings of one doctor are serialised (a second booking waits for the first to
-- commit, then fails with an update conflict and is retried on the next poll, when
-- book_check sees the first). Firebird takes the lock when the row is fetched, and the
-- connector runs this statement without fetching: the EXECUTE BLOCK fetches it. Its
-- variables are written :"NAME" (quoted) so that medsync does not take them for
-- parameters; no trigger fires, unlike a dummy UPDATE.
EXECUTE BLOCK (DID INTEGER = :doctor_id) AS
DECLARE D INTEGER;
BEGIN
  SELECT DOCT_ID FROM DOCTORS WHERE DOCT_ID = :"DID" WITH LOCK INTO :"D";
END

-- name: write.book_find_ext
SELECT SCHEDID AS id, DELETED AS deleted
FROM SCHEDULE
WHERE EXT_ID = CAST(:ext_id AS VARCHAR(64))

-- name: write.book_check
SELECT CASE WHEN d.ENABLED = 1 AND COALESCE(d.HIDEINTALONS, 0) = 0 THEN 1 ELSE 0 END AS doctor_ok,
       (SELECT COUNT(*) FROM CLIENTS c WHERE c.PCODE = CAST(:patient_id AS INTEGER) AND c.DELETED = 0) AS patient_ok,
       (SELECT COUNT(*) FROM SCHEDULE s
         WHERE s.DOCT_ID = d.DOCT_ID AND s.WDATE = CAST(:wdate AS DOUBLE PRECISION) AND s.DELETED = 0
           AND s.BHOUR < CAST(:ehour AS DOUBLE PRECISION) - 0.00001
           AND s.EHOUR > CAST(:bhour AS DOUBLE PRECISION) + 0.00001) AS busy
FROM DOCTORS d
WHERE d.DOCT_ID = CAST(:doctor_id AS INTEGER)

-- name: write.book_insert
INSERT INTO SCHEDULE (SCHEDID, PCODE, DOCT_ID, FILIAL_ID, WDATE, BHOUR, EHOUR, STATUS, DELETED,
                      SOURCE, COMMENT, EXT_ID, MODIFYDATE)
SELECT COALESCE((SELECT MAX(m.SCHEDID) FROM SCHEDULE m), 0) + 1, CAST(:patient_id AS INTEGER),
       d.DOCT_ID, d.FILIAL_ID, CAST(:wdate AS DOUBLE PRECISION), CAST(:bhour AS DOUBLE PRECISION),
       CAST(:ehour AS DOUBLE PRECISION), 0, 0, 2, CAST(:comment AS VARCHAR(500)),
       CAST(:ext_id AS VARCHAR(64)), CAST(:modifydate AS DOUBLE PRECISION)
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
    MODIFYDATE = CAST(:modifydate AS DOUBLE PRECISION)
WHERE EXT_ID = CAST(:ext_id AS VARCHAR(64)) AND DELETED = 0
