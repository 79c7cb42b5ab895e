-- medsync profile "views": reads the MEDSYNC_* views of README.md, the same SQL for
-- every dialect (placeholders are rendered per driver). A dialect that needs different
-- SQL gets a <dialect>.sql with a statement of the same name, which takes precedence.
-- :from_date and :to_date are the poll window as 'YYYY-MM-DD' (to exclusive).

-- {{date}} is the view's "date" column: a reserved word in Firebird, whose
-- firebird.sql defines its own fragment (quoted).
-- fragment: date
date

-- name: branch.rows
SELECT id, name, address, phone, timezone, mo_oid
FROM MEDSYNC_BRANCH

-- name: specialty.rows
SELECT id, name, code
FROM MEDSYNC_SPECIALTY

-- name: doctor.rows
SELECT id, branch_id, specialty_id, last_name, first_name, middle_name, snils, online_booking, slot_minutes
FROM MEDSYNC_DOCTOR

-- name: service.rows
SELECT id, name, code, specialty_id, price, duration_minutes, mode, prepay, online_booking
FROM MEDSYNC_SERVICE

-- name: patient.rows
SELECT id, card_number, last_name, first_name, middle_name, birth_date, sex, phone, email, snils, oms,
       consent_sms, consent_email, deleted
FROM MEDSYNC_PATIENT

-- name: patient.versions
SELECT id, version
FROM MEDSYNC_PATIENT

-- name: patient.by_keys
SELECT id, card_number, last_name, first_name, middle_name, birth_date, sex, phone, email, snils, oms,
       consent_sms, consent_email, deleted
FROM MEDSYNC_PATIENT
WHERE id IN (:keys)

-- name: shift.rows
SELECT id, doctor_id, branch_id, {{date}}, start_time, end_time, break_start, break_end, room, slot_minutes
FROM MEDSYNC_SHIFT
WHERE {{date}} >= :from_date AND {{date}} < :to_date

-- name: shift.by_keys
SELECT id, doctor_id, branch_id, {{date}}, start_time, end_time, break_start, break_end, room, slot_minutes
FROM MEDSYNC_SHIFT
WHERE id IN (:keys)

-- name: appointment.rows
SELECT id, patient_id, doctor_id, branch_id, {{date}}, start_time, end_time, status, cancel_reason, source,
       service_ids, room, comment, external_id
FROM MEDSYNC_APPOINTMENT
WHERE {{date}} >= :from_date AND {{date}} < :to_date

-- name: appointment.versions
SELECT id, version
FROM MEDSYNC_APPOINTMENT
WHERE {{date}} >= :from_date AND {{date}} < :to_date

-- name: appointment.by_keys
SELECT id, patient_id, doctor_id, branch_id, {{date}}, start_time, end_time, status, cancel_reason, source,
       service_ids, room, comment, external_id
FROM MEDSYNC_APPOINTMENT
WHERE id IN (:keys)

-- name: slot.busy
SELECT doctor_id, {{date}}, start_time, end_time
FROM MEDSYNC_APPOINTMENT
WHERE {{date}} >= :from_date AND {{date}} < :to_date AND status <> 'cancelled'

-- name: read.patient_lookup
-- ЕПГУ/ФЭР GetPatientInfo (connectors/fer): live cards matching the ОМС policy, the
-- СНИЛС or name and birth date; match_rank 1 policy, 2 СНИЛС, 3 name and birth date.
SELECT id,
       CASE WHEN :oms <> '' AND REPLACE(oms, ' ', '') = :oms THEN 1
            WHEN :snils <> '' AND REPLACE(REPLACE(snils, '-', ''), ' ', '') = :snils THEN 2
            ELSE 3 END AS match_rank
FROM MEDSYNC_PATIENT
WHERE deleted = 0
  AND ((:oms <> '' AND REPLACE(oms, ' ', '') = :oms)
    OR (:snils <> '' AND REPLACE(REPLACE(snils, '-', ''), ' ', '') = :snils)
    OR (last_name = :last_name AND first_name = :first_name AND birth_date = :birth_date))
