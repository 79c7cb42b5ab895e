-- medsync profile "demo", SQLite: day summaries of appointments (mapping/profiles/README.md,
-- "Day summaries"). A poll compares each day's row count and checksum with the same
-- figures computed from its snapshot, and scans (key, version) pairs only for the days
-- that moved. The checksum of a row is a whole number in [0, 2^32) mixing SCHEDID and
-- MODIFYDATE (µs, in microseconds): (SCHEDID · 2654435761 + (µs mod p) · 40503) mod p,
-- p = 4294967291, a prime; the same expression is returned AS checksum by
-- appointment.versions, appointment.rows and appointment.by_keys (sqlite.sql). A new
-- version changes it unless the two differ by a multiple of p µs (71.6 minutes to the
-- microsecond; for versions in whole seconds or milliseconds, a multiple of 136 years
-- or 49.7 days to the millisecond). The other dialects add µs div p, which SQLite's
-- bytecode pays about 30% of the summary for.
-- Both statements are served by the index IX_SCHEDULE_WINDOW (WDATE, SCHEDID, MODIFYDATE)
-- alone.

-- name: appointment.summary
SELECT s.WDATE AS bucket, COUNT(*) AS row_count,
       SUM((s.SCHEDID * 2654435761 + CAST(s.MODIFYDATE * 86400000000 AS INTEGER) % 4294967291 * 40503) % 4294967291) AS checksum
FROM SCHEDULE s
WHERE s.WDATE >= :from_ole AND s.WDATE < :to_ole
GROUP BY s.WDATE

-- name: appointment.versions
SELECT s.SCHEDID AS id, s.MODIFYDATE AS version,
       (s.SCHEDID * 2654435761 + CAST(s.MODIFYDATE * 86400000000 AS INTEGER) % 4294967291 * 40503) % 4294967291 AS checksum
FROM SCHEDULE s
WHERE s.WDATE >= :from_ole AND s.WDATE < :to_ole

-- Appointments changed since a moment: found through IX_SCHEDULE_MODIFYDATE (MODIFYDATE),
-- with the same key, version and checksum as appointment.versions and the day as
-- bucket. When a day's summary moved, the poll first explains it with these rows and
-- scans by keys only the days they leave unexplained (a deletion, a row whose
-- MODIFYDATE was not touched).
-- (The unary + keeps SQLite's planner off IX_SCHEDULE_WINDOW for this one: the
-- version range is the selective condition.)

-- name: appointment.changed
SELECT s.SCHEDID AS id, s.MODIFYDATE AS version,
       (s.SCHEDID * 2654435761 + CAST(s.MODIFYDATE * 86400000000 AS INTEGER) % 4294967291 * 40503) % 4294967291 AS checksum,
       s.WDATE AS bucket
FROM SCHEDULE s
WHERE s.MODIFYDATE >= :since_ole AND +s.WDATE >= :from_ole AND +s.WDATE < :to_ole

-- Shifts: the same, over DOCTSHIFT joined to DOCTORS (a shift's version is the later of
-- the two MODIFYDATEs). shift.rows and shift.by_keys are common.sql's with the checksum
-- added: keep them in step with it.

-- name: shift.summary
SELECT t.WDATE AS bucket, COUNT(*) AS row_count,
       SUM((t.SHIFT_ID * 2654435761 + CAST((CASE WHEN t.MODIFYDATE > d.MODIFYDATE THEN t.MODIFYDATE ELSE d.MODIFYDATE END) * 86400000000 AS INTEGER) % 4294967291 * 40503) % 4294967291) AS checksum
FROM DOCTSHIFT t
JOIN DOCTORS d ON d.DOCT_ID = t.DOCT_ID
WHERE t.WDATE >= :from_ole AND t.WDATE < :to_ole AND d.ENABLED = 1
GROUP BY t.WDATE

-- name: shift.versions
-- A shift's record also carries its doctor's slot length: the version is the later
-- of the two MODIFYDATEs.
SELECT t.SHIFT_ID AS id,
       CASE WHEN t.MODIFYDATE > d.MODIFYDATE THEN t.MODIFYDATE ELSE d.MODIFYDATE END AS version,
       (t.SHIFT_ID * 2654435761 + CAST((CASE WHEN t.MODIFYDATE > d.MODIFYDATE THEN t.MODIFYDATE ELSE d.MODIFYDATE END) * 86400000000 AS INTEGER) % 4294967291 * 40503) % 4294967291 AS checksum
FROM DOCTSHIFT t
JOIN DOCTORS d ON d.DOCT_ID = t.DOCT_ID
WHERE t.WDATE >= :from_ole AND t.WDATE < :to_ole AND d.ENABLED = 1

-- name: shift.rows
SELECT t.SHIFT_ID AS id, t.DOCT_ID AS doctor_id, t.FILIAL_ID AS branch_id,
       t.WDATE AS date, t.BEGHOUR AS start_time, t.ENDHOUR AS end_time,
       t.BREAK_BEG AS break_start, t.BREAK_END AS break_end, t.ROOM AS room,
       d.SLOT_MIN AS slot_minutes,
       CASE WHEN t.MODIFYDATE > d.MODIFYDATE THEN t.MODIFYDATE ELSE d.MODIFYDATE END AS version,
       (t.SHIFT_ID * 2654435761 + CAST((CASE WHEN t.MODIFYDATE > d.MODIFYDATE THEN t.MODIFYDATE ELSE d.MODIFYDATE END) * 86400000000 AS INTEGER) % 4294967291 * 40503) % 4294967291 AS checksum
FROM DOCTSHIFT t
JOIN DOCTORS d ON d.DOCT_ID = t.DOCT_ID
WHERE t.WDATE >= :from_ole AND t.WDATE < :to_ole AND d.ENABLED = 1
ORDER BY t.DOCT_ID, t.WDATE, t.BEGHOUR

-- name: shift.by_keys
SELECT t.SHIFT_ID AS id, t.DOCT_ID AS doctor_id, t.FILIAL_ID AS branch_id,
       t.WDATE AS date, t.BEGHOUR AS start_time, t.ENDHOUR AS end_time,
       t.BREAK_BEG AS break_start, t.BREAK_END AS break_end, t.ROOM AS room,
       d.SLOT_MIN AS slot_minutes,
       CASE WHEN t.MODIFYDATE > d.MODIFYDATE THEN t.MODIFYDATE ELSE d.MODIFYDATE END AS version,
       (t.SHIFT_ID * 2654435761 + CAST((CASE WHEN t.MODIFYDATE > d.MODIFYDATE THEN t.MODIFYDATE ELSE d.MODIFYDATE END) * 86400000000 AS INTEGER) % 4294967291 * 40503) % 4294967291 AS checksum
FROM DOCTSHIFT t
JOIN DOCTORS d ON d.DOCT_ID = t.DOCT_ID
WHERE t.SHIFT_ID IN (:keys) AND d.ENABLED = 1

-- Patients have no window: their summary is one row for the whole table, so that a
-- poll of unchanged patients reads one row instead of every (id, version) pair.
-- patient.rows, patient.versions and patient.by_keys are common.sql's; they carry
-- the {{patient_checksum}} defined here.

-- fragment: patient_checksum
(c.PCODE * 2654435761 + CAST(c.MODIFYDATE * 86400000000 AS INTEGER) % 4294967291 * 40503) % 4294967291

-- name: patient.summary
SELECT COUNT(*) AS row_count, SUM({{patient_checksum}}) AS checksum
FROM CLIENTS c
