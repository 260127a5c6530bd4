-- Tables whose names differ only in case, beside `MixedCase` of mysql.sql (on a server with
-- lower_case_table_names = 0, as on Linux). Run after mysql.sql:
--   mysql -h 127.0.0.1 -u root <db> < tests/corpus/mysql_case.sql
-- Kept apart because MySQL discovery merges such tables today (information_schema compares
-- table names case-insensitively); tests/tests/corpus.rs runs it in an ignored test.

CREATE TABLE mixedcase (id INT PRIMARY KEY);
INSERT INTO mixedcase VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10);
CREATE TABLE `MIXEDCASE` (v VARCHAR(10));
INSERT INTO `MIXEDCASE` VALUES ('upper');
