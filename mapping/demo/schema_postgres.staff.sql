-- Demo MIS, staff lists for check-ups (профосмотр), PostgreSQL dialect: employer organizations
-- with their contract end date and each organization's check-up list. Written by the
-- Excel connector (connectors/excel) through the demo profile's write.staff_* statements.
-- Statements end with ';' at the end of a line (demo.SplitStatements).
CREATE TABLE ORGS (
    ORG_ID INTEGER NOT NULL PRIMARY KEY,
    NAME VARCHAR(300) NOT NULL,
    INN VARCHAR(12) NULL,
    CONTRACT_NUM VARCHAR(50) NULL,
    CONTRACT_END DOUBLE PRECISION NULL,
    MODIFYDATE DOUBLE PRECISION NOT NULL
);
CREATE TABLE PROFLIST (
    PL_ID INTEGER NOT NULL PRIMARY KEY,
    ORG_ID INTEGER NOT NULL,
    PCODE INTEGER NOT NULL,
    EXAM_TYPE SMALLINT NOT NULL,
    WORK_COND SMALLINT NULL,
    FACTORS VARCHAR(500) NULL,
    JOB_TITLE VARCHAR(200) NULL,
    DEPARTMENT VARCHAR(200) NULL,
    SOURCE_FILE VARCHAR(260) NULL,
    MODIFYDATE DOUBLE PRECISION NOT NULL
);
CREATE UNIQUE INDEX UX_PROFLIST_ORG_PCODE ON PROFLIST (ORG_ID, PCODE);
CREATE INDEX IX_CLIENTS_BDATE ON CLIENTS (BDATE);
INSERT INTO ORGS (ORG_ID, NAME, INN, CONTRACT_NUM, CONTRACT_END, MODIFYDATE) VALUES
    (1, 'ООО «Казанский завод металлоконструкций»', '1655123456', 'ПО-2025/014', 47848, 45672.5),
    (2, 'МБОУ «Школа № 12»', '1657098765', 'ПО-2024/031', 45657, 45672.5),
    (3, 'АО «Татэнергосбыт»', '1657036630', 'ПО-2025/002', NULL, 45672.5);
