-- Demo MIS, staff lists for check-ups (профосмотр), SQL Server dialect: employer organizations
-- with their contract end date and each organization's check-up list. Written by the
-- Excel connector (connectors/excel) through the demo profile's write.staff_* statements.
-- Statements end with ';' at the end of a line (demo.SplitStatements).
CREATE TABLE ORGS (
    ORG_ID INT NOT NULL PRIMARY KEY,
    NAME NVARCHAR(300) NOT NULL,
    INN NVARCHAR(12) NULL,
    CONTRACT_NUM NVARCHAR(50) NULL,
    CONTRACT_END FLOAT NULL,
    MODIFYDATE FLOAT NOT NULL
);
CREATE TABLE PROFLIST (
    PL_ID INT NOT NULL PRIMARY KEY,
    ORG_ID INT NOT NULL,
    PCODE INT NOT NULL,
    EXAM_TYPE SMALLINT NOT NULL,
    WORK_COND SMALLINT NULL,
    FACTORS NVARCHAR(500) NULL,
    JOB_TITLE NVARCHAR(200) NULL,
    DEPARTMENT NVARCHAR(200) NULL,
    SOURCE_FILE NVARCHAR(260) NULL,
    MODIFYDATE FLOAT NOT NULL
);
CREATE UNIQUE INDEX UX_PROFLIST_ORG_PCODE ON PROFLIST (ORG_ID, PCODE);
CREATE INDEX IX_CLIENTS_BDATE ON CLIENTS (BDATE);
INSERT INTO ORGS (ORG_ID, NAME, INN, CONTRACT_NUM, CONTRACT_END, MODIFYDATE) VALUES
    (1, N'ООО «Казанский завод металлоконструкций»', '1655123456', N'ПО-2025/014', 47848, 45672.5),
    (2, N'МБОУ «Школа № 12»', '1657098765', N'ПО-2024/031', 45657, 45672.5),
    (3, N'АО «Татэнергосбыт»', '1657036630', N'ПО-2025/002', NULL, 45672.5);
