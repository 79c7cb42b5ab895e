-- medsync profile "demo", SQL Server: statements of the link-code feature (service/linkcodes).
-- read.* statements return patient ids only; the card itself is read with patient.by_keys,
-- so the profile's converters apply. Parameters (medsync passes them normalised):
--   :last_name_like, :first_name_like  'Иванов%' / 'Иван%' ('%' when not given)
--   :birth_date 'YYYY-MM-DD', :birth_ole the same as an OLE day number
--   :card_number                        exact card number
--   :patient_id                         the MIS patient key (CLIENTS.PCODE)
-- The statements shared by every dialect are in common.linkcodes.sql.

-- name: read.link_find_name
SELECT TOP (50) PCODE AS id
FROM CLIENTS
WHERE DELETED = 0 AND LASTNAME LIKE :last_name_like AND FIRSTNAME LIKE :first_name_like
ORDER BY LASTNAME, FIRSTNAME, MIDNAME, PCODE

-- name: read.link_find_birth
SELECT TOP (50) PCODE AS id
FROM CLIENTS
WHERE DELETED = 0 AND BDATE >= :birth_ole AND BDATE < :birth_ole + 1
ORDER BY LASTNAME, FIRSTNAME, MIDNAME, PCODE

-- name: read.link_find_card
SELECT TOP (50) PCODE AS id
FROM CLIENTS
WHERE DELETED = 0 AND CARDNUM = :card_number
ORDER BY PCODE

-- name: read.link_requests
-- Patients the registrar flagged in the MIS («Привязать к OnDoc»): medsync issues a code
-- for each on the next poll, then clears the flag with write.link_request_done.
SELECT TOP (200) PCODE AS id
FROM CLIENTS
WHERE LINK_REQUEST = 1 AND DELETED = 0
ORDER BY PCODE
