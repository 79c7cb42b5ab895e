-- Demo MIS, справочник «Вредные факторы» (harmful and hazardous production factors and
-- works, приказ Минздрава России № 29н), SQL Server dialect. The Excel connector reads the
-- codes through the demo profile's write.staff_factors (mapping/profiles/demo/common.factors.sql).
-- A sample of what a clinic keeps there (not the whole order); 1.37.1 is a code of
-- the previous order № 302н the clinic still keeps, DELETED = 1 rows are not offered.
-- Statements end with ';' at the end of a line (demo.SplitStatements).
CREATE TABLE VREDFACT (
    VF_ID INTEGER NOT NULL PRIMARY KEY,
    CODE NVARCHAR(20) NOT NULL,
    NAME NVARCHAR(500) NULL,
    DELETED SMALLINT NOT NULL
);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES
    (1, '1.1.1', N'Аллергены', 0),
    (2, '1.1.2', N'Канцерогены', 0),
    (3, '1.2.1', N'Азота неорганические соединения', 0),
    (4, '1.2.2', N'Альдегиды алифатические и ароматические', 0),
    (5, '1.2.4', N'Алюминий и его соединения', 0),
    (6, '1.2.7.1', N'Хлор', 0),
    (7, '1.2.9', N'Кетоны', 0),
    (8, '1.2.12', N'Никель и его соединения', 0),
    (9, '1.2.13', N'Озон', 0),
    (10, '1.1.4.4', N'Аэрозоли металлов и их сплавов', 0),
    (11, '1.1.4.5', N'Аэрозоли абразивные и абразивсодержащие', 0),
    (12, '1.1.4.8.1', N'Пыль растительного и животного происхождения с примесью диоксида кремния', 0),
    (13, '2.4', N'Патогенные биологические агенты', 0),
    (14, '4.1', N'Ионизирующие излучения', 0),
    (15, '4.2.1', N'Электромагнитное поле широкополосного спектра частот от ПЭВМ', 0),
    (16, '4.2.5', N'Ультрафиолетовое излучение', 0),
    (17, '4.3.1', N'Локальная вибрация', 0),
    (18, '4.3.2', N'Общая вибрация', 0),
    (19, '4.4', N'Шум', 0),
    (20, '4.7', N'Пониженная температура воздуха', 0),
    (21, '4.8', N'Повышенная температура воздуха', 0),
    (22, '5.1', N'Физические перегрузки', 0),
    (23, '6', N'Работы на высоте', 0),
    (24, '7', N'Работы по обслуживанию электроустановок', 0),
    (25, '10', NULL, 0),
    (26, '18.2', NULL, 0),
    (27, '19', NULL, 0),
    (28, '20', NULL, 0),
    (29, '21', NULL, 0),
    (30, '1.37.1', NULL, 0),
    (31, '3.1', N'Код удалён из справочника', 1);
