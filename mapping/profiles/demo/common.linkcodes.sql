-- medsync profile "demo": statements of the link-code feature (service/linkcodes).
-- read.* statements return patient ids only; the card itself is read with patient.by_keys,
-- so the profile's converters apply. Parameters (medsync passes them normalised):
--   :last_name_like, :first_name_like  'Иванов%' / 'Иван%' ('%' when not given)
--   :birth_date 'YYYY-MM-DD', :birth_ole the same as an OLE day number
--   :card_number                        exact card number
--   :patient_id                         the MIS patient key (CLIENTS.PCODE)
-- These statements are the same SQL for every dialect; a dialect's own
-- <dialect>.linkcodes.sql overrides a statement of the same name.

-- name: read.link_find_name
SELECT PCODE AS id
FROM CLIENTS
WHERE DELETED = 0 AND LASTNAME LIKE :last_name_like AND FIRSTNAME LIKE :first_name_like
ORDER BY LASTNAME, FIRSTNAME, MIDNAME, PCODE
LIMIT 50

-- name: read.link_find_birth
SELECT PCODE AS id
FROM CLIENTS
WHERE DELETED = 0 AND BDATE >= :birth_ole AND BDATE < :birth_ole + 1
ORDER BY LASTNAME, FIRSTNAME, MIDNAME, PCODE
LIMIT 50

-- name: read.link_find_card
SELECT PCODE AS id
FROM CLIENTS
WHERE DELETED = 0 AND CARDNUM = :card_number
ORDER BY PCODE
LIMIT 50

-- name: read.link_requests
-- Patients the registrar flagged in the MIS («Привязать к OnDoc»): medsync issues a code
-- for each on the next poll, then clears the flag with write.link_request_done.
SELECT PCODE AS id
FROM CLIENTS
WHERE LINK_REQUEST = 1 AND DELETED = 0
ORDER BY PCODE
LIMIT 200

-- name: write.link_request_done
-- Clears the flag after a code was issued for the request (MODIFYDATE is left alone:
-- the flag is not part of the synced patient card).
UPDATE CLIENTS SET LINK_REQUEST = 0 WHERE PCODE = :patient_id AND LINK_REQUEST = 1
