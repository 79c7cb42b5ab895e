-- medsync profile "demo", Firebird 3: day summaries of appointments and shifts
-- (mapping/profiles/README.md, "Day summaries" and "Changed rows"). A poll compares each
-- day's row count and checksum with the same figures computed from its snapshot, and
-- scans (key, version) pairs only for the days that moved. The checksum of a row is a
-- whole number in [0, 2^32) mixing the key and MODIFYDATE (in microseconds, BIGINT
-- arithmetic: no value passes 2^63), written once below as a fragment and used by every
-- statement that returns it: the summaries, versions, changed rows, and rows/by_keys
-- (appointments in firebird.sql, shifts here). The appointments' summary and versions
-- are served by IX_SCHEDULE_WINDOW (WDATE, SCHEDID, MODIFYDATE), the changed rows by
-- IX_SCHEDULE_MODIFYDATE (MODIFYDATE). ROW_COUNT is a reserved word: its alias is quoted.

-- fragment: appointment_checksum
MOD(s.SCHEDID * 2654435761 + MOD(CAST(s.MODIFYDATE * 86400000000 AS BIGINT), 4294967291) * 40503 + CAST(s.MODIFYDATE * 86400000000 AS BIGINT) / 4294967291, 4294967291)

-- name: appointment.summary
SELECT s.WDATE AS bucket, COUNT(*) AS "row_count", SUM({{appointment_checksum}}) AS checksum
FROM SCHEDULE s
WHERE s.WDATE >= :from_ole AND s.WDATE < :to_ole
GROUP BY s.WDATE

-- name: appointment.versions
SELECT s.SCHEDID AS id, s.MODIFYDATE AS version, {{appointment_checksum}} AS checksum
FROM SCHEDULE s
WHERE s.WDATE >= :from_ole AND s.WDATE < :to_ole

-- Appointments changed since a moment, with the same key, version and checksum as
-- appointment.versions and the day as bucket. When a day's summary moved, the poll first
-- explains it with these rows and scans by keys only the days they leave unexplained (a
-- deletion, a row whose MODIFYDATE was not touched).

-- name: appointment.changed
SELECT s.SCHEDID AS id, s.MODIFYDATE AS version, {{appointment_checksum}} AS checksum, s.WDATE AS bucket
FROM SCHEDULE s
WHERE s.MODIFYDATE >= :since_ole AND s.WDATE >= :from_ole AND s.WDATE < :to_ole

-- Shifts: the same, over DOCTSHIFT joined to DOCTORS (a shift's version is the later of
-- the two MODIFYDATEs). shift.rows and shift.by_keys are common.sql's with the checksum
-- added: keep them in step with it.

-- fragment: shift_version
CASE WHEN t.MODIFYDATE > d.MODIFYDATE THEN t.MODIFYDATE ELSE d.MODIFYDATE END

-- fragment: shift_checksum
MOD(t.SHIFT_ID * 2654435761 + MOD(CAST(({{shift_version}}) * 86400000000 AS BIGINT), 4294967291) * 40503 + CAST(({{shift_version}}) * 86400000000 AS BIGINT) / 4294967291, 4294967291)

-- fragment: shift_select
SELECT t.SHIFT_ID AS id, t.DOCT_ID AS doctor_id, t.FILIAL_ID AS branch_id,
       t.WDATE AS "date", t.BEGHOUR AS start_time, t.ENDHOUR AS end_time,
       t.BREAK_BEG AS break_start, t.BREAK_END AS break_end, t.ROOM AS room,
       d.SLOT_MIN AS slot_minutes, {{shift_version}} AS version, {{shift_checksum}} AS checksum
FROM DOCTSHIFT t
JOIN DOCTORS d ON d.DOCT_ID = t.DOCT_ID

-- name: shift.summary
SELECT t.WDATE AS bucket, COUNT(*) AS "row_count", SUM({{shift_checksum}}) AS checksum
FROM DOCTSHIFT t
JOIN DOCTORS d ON d.DOCT_ID = t.DOCT_ID
WHERE t.WDATE >= :from_ole AND t.WDATE < :to_ole AND d.ENABLED = 1
GROUP BY t.WDATE

-- name: shift.versions
SELECT t.SHIFT_ID AS id, {{shift_version}} AS version, {{shift_checksum}} AS checksum
FROM DOCTSHIFT t
JOIN DOCTORS d ON d.DOCT_ID = t.DOCT_ID
WHERE t.WDATE >= :from_ole AND t.WDATE < :to_ole AND d.ENABLED = 1

-- name: shift.rows
{{shift_select}}
WHERE t.WDATE >= :from_ole AND t.WDATE < :to_ole AND d.ENABLED = 1
ORDER BY t.DOCT_ID, t.WDATE, t.BEGHOUR

-- name: shift.by_keys
{{shift_select}}
WHERE t.SHIFT_ID IN (:keys) AND d.ENABLED = 1

-- Patients have no window: their summary is one row for the whole table, so that a
-- poll of unchanged patients reads one row instead of every (id, version) pair.
-- patient.rows, patient.versions and patient.by_keys are common.sql's; they carry
-- the {{patient_checksum}} defined here.

-- fragment: patient_checksum
MOD(c.PCODE * 2654435761 + MOD(CAST(c.MODIFYDATE * 86400000000 AS BIGINT), 4294967291) * 40503 + CAST(c.MODIFYDATE * 86400000000 AS BIGINT) / 4294967291, 4294967291)

-- name: patient.summary
SELECT COUNT(*) AS "row_count", SUM({{patient_checksum}}) AS checksum
FROM CLIENTS c
