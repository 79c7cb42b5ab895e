-- Demo MIS, справочник «Вредные факторы» (harmful and hazardous production factors and
-- works, приказ Минздрава России № 29н), Firebird dialect (one INSERT per row: Firebird
-- has no multi-row VALUES). The Excel connector reads the codes through the demo profile's write.staff_factors (mapping/profiles/demo/common.factors.sql).
-- A sample of what a clinic keeps there (not the whole order); 1.37.1 is a code of
-- the previous order № 302н the clinic still keeps, DELETED = 1 rows are not offered.
-- Statements end with ';' at the end of a line (demo.SplitStatements).
CREATE TABLE VREDFACT (
    VF_ID INTEGER NOT NULL PRIMARY KEY,
    CODE VARCHAR(20) NOT NULL,
    NAME VARCHAR(500),
    DELETED SMALLINT NOT NULL
);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (1, '1.1.1', 'Аллергены', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (2, '1.1.2', 'Канцерогены', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (3, '1.2.1', 'Азота неорганические соединения', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (4, '1.2.2', 'Альдегиды алифатические и ароматические', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (5, '1.2.4', 'Алюминий и его соединения', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (6, '1.2.7.1', 'Хлор', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (7, '1.2.9', 'Кетоны', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (8, '1.2.12', 'Никель и его соединения', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (9, '1.2.13', 'Озон', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (10, '1.1.4.4', 'Аэрозоли металлов и их сплавов', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (11, '1.1.4.5', 'Аэрозоли абразивные и абразивсодержащие', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (12, '1.1.4.8.1', 'Пыль растительного и животного происхождения с примесью диоксида кремния', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (13, '2.4', 'Патогенные биологические агенты', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (14, '4.1', 'Ионизирующие излучения', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (15, '4.2.1', 'Электромагнитное поле широкополосного спектра частот от ПЭВМ', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (16, '4.2.5', 'Ультрафиолетовое излучение', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (17, '4.3.1', 'Локальная вибрация', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (18, '4.3.2', 'Общая вибрация', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (19, '4.4', 'Шум', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (20, '4.7', 'Пониженная температура воздуха', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (21, '4.8', 'Повышенная температура воздуха', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (22, '5.1', 'Физические перегрузки', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (23, '6', 'Работы на высоте', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (24, '7', 'Работы по обслуживанию электроустановок', 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (25, '10', NULL, 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (26, '18.2', NULL, 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (27, '19', NULL, 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (28, '20', NULL, 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (29, '21', NULL, 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (30, '1.37.1', NULL, 0);
INSERT INTO VREDFACT (VF_ID, CODE, NAME, DELETED) VALUES (31, '3.1', 'Код удалён из справочника', 1);
