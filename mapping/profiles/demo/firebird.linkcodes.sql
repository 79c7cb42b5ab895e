-- medsync profile "demo", Firebird 3: link-code look-ups (FIRST n instead of LIMIT n).
-- The statements shared by every dialect are in common.linkcodes.sql.

-- name: read.link_find_name
SELECT FIRST 50 PCODE AS id
FROM CLIENTS
WHERE DELETED = 0 AND LASTNAME LIKE :last_name_like AND FIRSTNAME LIKE :first_name_like
ORDER BY LASTNAME, FIRSTNAME, MIDNAME, PCODE

-- name: read.link_find_birth
SELECT FIRST 50 PCODE AS id
FROM CLIENTS
WHERE DELETED = 0 AND BDATE >= CAST(:birth_ole AS DOUBLE PRECISION) AND BDATE < CAST(:birth_ole AS DOUBLE PRECISION) + 1
ORDER BY LASTNAME, FIRSTNAME, MIDNAME, PCODE

-- name: read.link_find_card
SELECT FIRST 50 PCODE AS id
FROM CLIENTS
WHERE DELETED = 0 AND CARDNUM = :card_number
ORDER BY PCODE

-- name: read.link_requests
-- Patients the registrar flagged in the MIS («Привязать к OnDoc»): medsync issues a code
-- for each on the next poll, then clears the flag with write.link_request_done.
SELECT FIRST 200 PCODE AS id
FROM CLIENTS
WHERE LINK_REQUEST = 1 AND DELETED = 0
ORDER BY PCODE
