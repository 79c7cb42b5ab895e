-- medsync profile "demo": statements that are the same SQL for every dialect (the
-- named parameters are rendered in each driver's style). What differs per dialect
-- (casts, string aggregation) is in <dialect>.sql. Each statement starts with a
-- "-- name: <entity>.<kind>" line and returns the columns of the canonical contract
-- (mapping/profiles/README.md); profile.ini converts OLE dates, day fractions and codes.
-- :from_ole / :to_ole are the poll window as OLE day numbers.

-- {{date}} is the alias of the "date" column: a reserved word in Firebird, whose
-- firebird.sql defines its own fragment (quoted).
-- fragment: date
date

-- name: branch.rows
SELECT FILIAL_ID AS id, NAME AS name, ADDRESS AS address, PHONE AS phone,
       TZ AS timezone, MO_OID AS mo_oid
FROM FILIALS
WHERE ENABLED = 1

-- name: specialty.rows
SELECT SPEC_ID AS id, NAME AS name, CODE AS code
FROM SPECIALITIES

-- name: doctor.rows
-- Only enabled doctors: a doctor who is disabled in the MIS disappears (withdrawn).
SELECT DOCT_ID AS id, FILIAL_ID AS branch_id, SPEC_ID AS specialty_id,
       LASTNAME AS last_name, FIRSTNAME AS first_name, MIDNAME AS middle_name, SNILS AS snils,
       COALESCE(HIDEINTALONS, 0) AS online_booking, SLOT_MIN AS slot_minutes
FROM DOCTORS
WHERE ENABLED = 1

-- name: service.rows
SELECT SERV_ID AS id, NAME AS name, CODE AS code, SPEC_ID AS specialty_id,
       PRICE AS price, DURATION AS duration_minutes, ONLINE_MODE AS mode, PREPAY AS prepay,
       SHOW_ONLINE AS online_booking
FROM SERVICES
WHERE ENABLED = 1

-- The patients' statements return each row's checksum for the table summary
-- (<dialect>.summary.sql: patient.summary and the {{patient_checksum}} fragment, the
-- one part written per dialect).
-- fragment: patient_select
SELECT c.PCODE AS id, c.CARDNUM AS card_number, c.LASTNAME AS last_name, c.FIRSTNAME AS first_name,
       c.MIDNAME AS middle_name, c.BDATE AS birth_date, c.GENDER AS sex, c.PHONE1 AS phone, c.EMAIL AS email,
       c.SNILS AS snils, c.POLIS AS oms, c.SMS_AGREE AS consent_sms, c.EMAIL_AGREE AS consent_email,
       c.DELETED AS deleted, c.MODIFYDATE AS version,
       {{patient_checksum}} AS checksum
FROM CLIENTS c

-- name: patient.versions
SELECT c.PCODE AS id, c.MODIFYDATE AS version, {{patient_checksum}} AS checksum
FROM CLIENTS c

-- name: patient.rows
{{patient_select}}

-- name: patient.by_keys
{{patient_select}}
WHERE c.PCODE IN (:keys)

-- name: shift.rows
SELECT t.SHIFT_ID AS id, t.DOCT_ID AS doctor_id, t.FILIAL_ID AS branch_id,
       t.WDATE AS {{date}}, t.BEGHOUR AS start_time, t.ENDHOUR AS end_time,
       t.BREAK_BEG AS break_start, t.BREAK_END AS break_end, t.ROOM AS room,
       d.SLOT_MIN AS slot_minutes,
       CASE WHEN t.MODIFYDATE > d.MODIFYDATE THEN t.MODIFYDATE ELSE d.MODIFYDATE END AS version
FROM DOCTSHIFT t
JOIN DOCTORS d ON d.DOCT_ID = t.DOCT_ID
WHERE t.WDATE >= :from_ole AND t.WDATE < :to_ole AND d.ENABLED = 1
ORDER BY t.DOCT_ID, t.WDATE, t.BEGHOUR

-- name: shift.versions
-- A shift's record also carries its doctor's slot length: the version is the later
-- of the two MODIFYDATEs.
SELECT t.SHIFT_ID AS id,
       CASE WHEN t.MODIFYDATE > d.MODIFYDATE THEN t.MODIFYDATE ELSE d.MODIFYDATE END AS version
FROM DOCTSHIFT t
JOIN DOCTORS d ON d.DOCT_ID = t.DOCT_ID
WHERE t.WDATE >= :from_ole AND t.WDATE < :to_ole AND d.ENABLED = 1

-- name: shift.by_keys
SELECT t.SHIFT_ID AS id, t.DOCT_ID AS doctor_id, t.FILIAL_ID AS branch_id,
       t.WDATE AS {{date}}, t.BEGHOUR AS start_time, t.ENDHOUR AS end_time,
       t.BREAK_BEG AS break_start, t.BREAK_END AS break_end, t.ROOM AS room,
       d.SLOT_MIN AS slot_minutes,
       CASE WHEN t.MODIFYDATE > d.MODIFYDATE THEN t.MODIFYDATE ELSE d.MODIFYDATE END AS version
FROM DOCTSHIFT t
JOIN DOCTORS d ON d.DOCT_ID = t.DOCT_ID
WHERE t.SHIFT_ID IN (:keys) AND d.ENABLED = 1

-- name: appointment.versions
-- Served by the index (WDATE, SCHEDID, MODIFYDATE) alone.
SELECT SCHEDID AS id, MODIFYDATE AS version
FROM SCHEDULE
WHERE WDATE >= :from_ole AND WDATE < :to_ole

-- name: slot.busy
-- Appointments that occupy a doctor's time: every one not cancelled.
SELECT DOCT_ID AS doctor_id, WDATE AS {{date}}, BHOUR AS start_time, EHOUR AS end_time
FROM SCHEDULE
WHERE WDATE >= :from_ole AND WDATE < :to_ole AND DELETED = 0
ORDER BY DOCT_ID, WDATE
