-- medsync profile "demo": write statements of the one booking path
-- (connectors/booking, used by every channel: ONDOC, ФЭР, …). A booking runs, in one
-- transaction: book_lock → book_find_ext → book_check → book_insert → book_services →
-- book_find_ext; a cancellation: book_find_ext → cancel_ext (by the channel's id) or
-- appointment_find → cancel_id (by the MIS id). Every parameter is listed in
-- mapping/profiles/README.md ("Write statements"). The demo MIS stores OLE units, so it
-- uses the derived parameters :ole_date (OLE day number), :ole_start/:ole_end (day
-- fractions) and :ole_now (OLE date-time), all in the branch's local time. 0.00001 day
-- (< 1 s) absorbs float noise so that back-to-back appointments do not overlap.
-- These statements are the same SQL for every dialect; a dialect's own
-- <dialect>.booking.sql overrides a statement of the same name.

-- name: write.book_find_ext
SELECT SCHEDID AS id, DELETED AS deleted, FILIAL_ID AS branch_id, DOCT_ID AS doctor_id
FROM SCHEDULE
WHERE EXT_ID = :ext_id

-- name: write.book_check
-- in_schedule: the interval lies inside a shift of the doctor that day, in the booked
-- branch (any branch when :branch_id is NULL), and does not overlap the shift's break.
SELECT CASE WHEN d.ENABLED = 1 AND COALESCE(d.HIDEINTALONS, 0) = 0 THEN 1 ELSE 0 END AS doctor_ok,
       (SELECT COUNT(*) FROM CLIENTS c WHERE c.PCODE = :patient_id AND c.DELETED = 0) AS patient_ok,
       (SELECT COUNT(*) FROM SCHEDULE s
         WHERE s.DOCT_ID = d.DOCT_ID AND s.WDATE = :ole_date AND s.DELETED = 0
           AND s.BHOUR < :ole_end - 0.00001
           AND s.EHOUR > :ole_start + 0.00001) AS busy,
       (SELECT COUNT(*) FROM DOCTSHIFT t
         WHERE t.DOCT_ID = d.DOCT_ID AND t.WDATE = :ole_date
           AND t.FILIAL_ID = COALESCE(:branch_id, t.FILIAL_ID)
           AND t.BEGHOUR <= :ole_start + 0.00001
           AND t.ENDHOUR >= :ole_end - 0.00001
           AND (t.BREAK_BEG IS NULL OR t.BREAK_END IS NULL
                OR t.BREAK_END <= :ole_start + 0.00001
                OR t.BREAK_BEG >= :ole_end - 0.00001)) AS in_schedule
FROM DOCTORS d
WHERE d.DOCT_ID = :doctor_id

-- name: write.book_services
INSERT INTO SCHEDSERV (SCHEDID, SERV_ID)
SELECT s.SCHEDID, v.SERV_ID
FROM SCHEDULE s JOIN SERVICES v ON v.SERV_ID = :service_id
WHERE s.EXT_ID = :ext_id

-- name: write.appointment_find
SELECT SCHEDID AS id, DELETED AS deleted, FILIAL_ID AS branch_id, DOCT_ID AS doctor_id
FROM SCHEDULE
WHERE SCHEDID = :appointment_id
