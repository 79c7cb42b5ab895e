-- medsync profile "views", Firebird 3: DATE is a reserved word in Firebird, so the
-- views name that column "date" (quoted, lower case), and the {{date}} fragment of
-- common.sql's statements is "date" here. Everything else is common.sql.

-- fragment: date
"date"
