-- medsync profile "views", Firebird 3: DATE is a reserved word in Firebird, so the
-- views name that column "date" (quoted, lower case) and these statements read it so.
-- Everything else is common.sql.

-- name: shift.rows
SELECT id, doctor_id, branch_id, "date", start_time, end_time, break_start, break_end, room, slot_minutes
FROM MEDSYNC_SHIFT
WHERE "date" >= :from_date AND "date" < :to_date

-- name: shift.by_keys
SELECT id, doctor_id, branch_id, "date", start_time, end_time, break_start, break_end, room, slot_minutes
FROM MEDSYNC_SHIFT
WHERE id IN (:keys)

-- name: appointment.rows
SELECT id, patient_id, doctor_id, branch_id, "date", start_time, end_time, status, cancel_reason, source,
       service_ids, room, comment, external_id
FROM MEDSYNC_APPOINTMENT
WHERE "date" >= :from_date AND "date" < :to_date

-- name: appointment.versions
SELECT id, version
FROM MEDSYNC_APPOINTMENT
WHERE "date" >= :from_date AND "date" < :to_date

-- name: appointment.by_keys
SELECT id, patient_id, doctor_id, branch_id, "date", start_time, end_time, status, cancel_reason, source,
       service_ids, room, comment, external_id
FROM MEDSYNC_APPOINTMENT
WHERE id IN (:keys)

-- name: slot.busy
SELECT doctor_id, "date", start_time, end_time
FROM MEDSYNC_APPOINTMENT
WHERE "date" >= :from_date AND "date" < :to_date AND status <> 'cancelled'
