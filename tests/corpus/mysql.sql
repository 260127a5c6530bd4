-- The long-tail acceptance corpus for MySQL and MariaDB (see tests/corpus/README.md).
-- Run it in an empty database:  mysql -h 127.0.0.1 -u root <db> < tests/corpus/mysql.sql
-- Procedures use the mysql client's DELIMITER; tests/tests/corpus.rs splits the file the same
-- way. Every value is computed from a sequence of integers: the same script gives the same data.

SET time_zone = '+00:00';
SET NAMES utf8mb4;

-- Integers 1..100000 for the INSERT ... SELECTs below (a temporary table: not part of the corpus).
CREATE TEMPORARY TABLE digits (d INT PRIMARY KEY);
INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
CREATE TEMPORARY TABLE seq (g INT PRIMARY KEY);
INSERT INTO seq SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d
  FROM digits a, digits b, digits c, digits e, digits f;

-- 1. Keys ----------------------------------------------------------------------------------

-- 99% of the rows in the first 1% of the key span, then gaps of a billion; the extremes too.
CREATE TABLE skewed (id BIGINT PRIMARY KEY, v INT NOT NULL, note VARCHAR(60));
INSERT INTO skewed
SELECT CASE WHEN g <= 19800 THEN g ELSE (g - 19800) * 1000000000 END, g % 1000,
       CASE WHEN g % 7 = 0 THEN NULL ELSE REPEAT(CHAR(97 + g % 26), g % 40) END
  FROM seq WHERE g <= 20000;
INSERT INTO skewed VALUES (-9223372036854775808, -1, 'min'), (9223372036854775807, 1, 'max');

CREATE TABLE composite_key (region VARCHAR(10), day DATE, seq INT, amount DECIMAL(12, 3), flag TINYINT(1),
                            PRIMARY KEY (region, day, seq));
INSERT INTO composite_key
SELECT CONCAT('r', g % 13), DATE '2020-01-01' + INTERVAL (g % 400) DAY, g, g * 7.125 - 5000,
       CASE WHEN g % 5 = 0 THEN NULL ELSE g % 2 = 0 END
  FROM seq WHERE g <= 6000;

CREATE TABLE text_key (code CHAR(32) PRIMARY KEY, qty SMALLINT);
INSERT INTO text_key SELECT MD5(g), g % 30000 FROM seq WHERE g <= 3000;

CREATE TABLE uuid_key (id CHAR(36) PRIMARY KEY, created TIMESTAMP(6) NULL, payload JSON);
INSERT INTO uuid_key
SELECT CONCAT_WS('-', SUBSTR(MD5(g), 1, 8), SUBSTR(MD5(g), 9, 4), SUBSTR(MD5(g), 13, 4), SUBSTR(MD5(g), 17, 4),
                 SUBSTR(MD5(g), 21, 12)),
       TIMESTAMP '2021-03-04 05:06:07.123456' + INTERVAL (g * 2221.5) SECOND,
       CONCAT('{"g": ', g, ', "tags": ["a", ', g % 3, ']}')
  FROM seq WHERE g <= 3000;

CREATE TABLE date_key (day DATE PRIMARY KEY, local_time DATETIME(6), bin VARBINARY(16));
INSERT INTO date_key
SELECT DATE '1900-01-01' + INTERVAL (g * 11) DAY,
       TIMESTAMP '1969-12-31 23:59:59.999999' + INTERVAL g DAY + INTERVAL g MICROSECOND, UNHEX(MD5(g))
  FROM seq WHERE g <= 3000;

-- No primary key, but a unique NOT NULL integer index to split on.
CREATE TABLE unique_key (serial INT NOT NULL, label VARCHAR(20), UNIQUE KEY (serial));
INSERT INTO unique_key SELECT g * 3, CONCAT('label ', g) FROM seq WHERE g <= 5000;

-- No key at all, with duplicate rows: every copy must be exported once.
CREATE TABLE no_pk (a INT, b VARCHAR(20));
INSERT INTO no_pk SELECT g % 100, CONCAT('dup ', g % 100) FROM seq WHERE g <= 8000;

-- Unsigned keys beyond the signed range.
CREATE TABLE unsigned_key (id BIGINT UNSIGNED PRIMARY KEY, v INT UNSIGNED);
INSERT INTO unsigned_key SELECT 18446744073709551615 - g * 1000000007, g FROM seq WHERE g <= 2000;

-- Native partitioning: one table to MySQL's catalog.
CREATE TABLE measurements (id BIGINT NOT NULL, at DATE NOT NULL, city VARCHAR(10), reading INT,
                           PRIMARY KEY (id, at))
  PARTITION BY RANGE (YEAR(at)) (PARTITION p2021 VALUES LESS THAN (2022), PARTITION p2022 VALUES LESS THAN (2023),
                                 PARTITION pmax VALUES LESS THAN MAXVALUE);
INSERT INTO measurements
SELECT g, DATE '2020-06-01' + INTERVAL (g % 1400) DAY, ELT(1 + g % 4, 'oslo', 'lima', 'tromso', 'pune'), g % 50
  FROM seq WHERE g <= 6000;

-- A view: no rows of its own.
CREATE VIEW skewed_small AS SELECT id, v FROM skewed WHERE id < 100;

-- 2. Width: 1,010 columns (InnoDB allows 1,017), small types to stay under the row size limit.

DELIMITER //
CREATE PROCEDURE corpus_wide()
BEGIN
  DECLARE i INT DEFAULT 1;
  DECLARE cols LONGTEXT DEFAULT 'id INT PRIMARY KEY';
  DECLARE vals LONGTEXT DEFAULT 'g';
  WHILE i <= 1009 DO
    IF i % 100 = 0 THEN
      SET cols = CONCAT(cols, ', c', i, ' VARCHAR(12)');
      SET vals = CONCAT(vals, ', IF((g + ', i, ') % 11 = 0, NULL, CONCAT(''v'', g * ', i, '))');
    ELSEIF i % 3 = 0 THEN
      SET cols = CONCAT(cols, ', c', i, ' SMALLINT');
      SET vals = CONCAT(vals, ', (g * ', i, ') % 30000');
    ELSE
      SET cols = CONCAT(cols, ', c', i, ' INT');
      SET vals = CONCAT(vals, ', IF((g + ', i, ') % 13 = 0, NULL, g * ', i, ')');
    END IF;
    SET i = i + 1;
  END WHILE;
  SET @ddl = CONCAT('CREATE TABLE wide_1010 (', cols, ')');
  PREPARE st FROM @ddl;
  EXECUTE st;
  DEALLOCATE PREPARE st;
  SET @dml = CONCAT('INSERT INTO wide_1010 SELECT ', vals, ' FROM seq WHERE g <= 200');
  PREPARE st FROM @dml;
  EXECUTE st;
  DEALLOCATE PREPARE st;
END //
DELIMITER ;
CALL corpus_wide();
DROP PROCEDURE corpus_wide;

-- 3. Many small tables. ---------------------------------------------------------------------

DELIMITER //
CREATE PROCEDURE corpus_many(n INT)
BEGIN
  DECLARE i INT DEFAULT 1;
  WHILE i <= n DO
    SET @name = CONCAT('many_', LPAD(i, 4, '0'));
    SET @ddl = CONCAT('CREATE TABLE ', @name, ' (id INT PRIMARY KEY, v VARCHAR(40))');
    PREPARE st FROM @ddl;
    EXECUTE st;
    SET @dml = CONCAT('INSERT INTO ', @name, ' SELECT g, CONCAT(''row of ', i, ': '', g) FROM seq WHERE g <= ', i % 4);
    PREPARE st FROM @dml;
    EXECUTE st;
    SET i = i + 1;
  END WHILE;
  DEALLOCATE PREPARE st;
END //
DELIMITER ;
CALL corpus_many(1000);
DROP PROCEDURE corpus_many;

-- 4. Identifiers. ---------------------------------------------------------------------------

-- The injection target: it must still hold its three rows after the export.
CREATE TABLE y (id INT PRIMARY KEY);
INSERT INTO y VALUES (1), (2), (3);
CREATE TABLE `x``; DROP TABLE y; --` (`a``); DROP TABLE y; --` INT, `'; DROP TABLE y; --` TEXT, `"; DROP TABLE y; --` TEXT);
INSERT INTO `x``; DROP TABLE y; --` VALUES (1, 'one', 'uno'), (2, 'two''s', '"two"'), (NULL, NULL, NULL);

-- Mixed case (columns are case-insensitive in MySQL). Tables whose names differ only in case
-- are in mysql_case.sql.
CREATE TABLE `MixedCase` (`ID` INT, `Order Date` DATE, `Name` VARCHAR(20));
INSERT INTO `MixedCase` SELECT g, DATE '2000-02-29' + INTERVAL g DAY, CONCAT('Name ', g) FROM seq WHERE g <= 300;

-- Unicode (identifiers are in the Basic Multilingual Plane), spaces, dots, quotes, reserved words.
CREATE TABLE `Ünïcödé 表` (`naïve café` VARCHAR(40), `価格` DECIMAL(10, 2), `ß` INT);
INSERT INTO `Ünïcödé 表` SELECT CONCAT('crème brûlée ', g), g * 1.25, g FROM seq WHERE g <= 200;
CREATE TABLE `a.b c` (`x.y` INT, `two words` VARCHAR(20), ` leading space` VARCHAR(5));
INSERT INTO `a.b c` SELECT g, CONCAT('w ', g), ' l' FROM seq WHERE g <= 50;
CREATE TABLE `it's "quoted"` (`"` VARCHAR(5), `'` VARCHAR(5), ```back``` VARCHAR(5));
INSERT INTO `it's "quoted"` VALUES ('dq', 'sq', 'bt'), ('"', '''', '`');
CREATE TABLE `select` (`from` INT, `where` VARCHAR(10), `order` DATE, `group` BIT(1), `table` BIGINT);
INSERT INTO `select` SELECT g, CONCAT('w', g), DATE '2024-02-28' + INTERVAL g DAY, g % 2, -g FROM seq WHERE g <= 100;
CREATE TABLE `user` (`limit` INT PRIMARY KEY, `null` VARCHAR(5));
INSERT INTO `user` VALUES (1, NULL), (2, 'NULL'), (3, '');

-- The longest names: 64 characters, ASCII and two-byte. A table of 64 two-byte characters is
-- 64 x 6 = 384 bytes once escaped as a folder name (%C3%A9...), over the 255 bytes a local file
-- system allows: its folder name is shortened (cut, then `~` and a hash of the name), and two
-- such tables that differ only in their last character get different folders.
CREATE TABLE `t23456789_123456789_123456789_123456789_123456789_123456789_1234` (
  `c23456789_123456789_123456789_123456789_123456789_123456789_1234` INT);
INSERT INTO `t23456789_123456789_123456789_123456789_123456789_123456789_1234` SELECT g FROM seq WHERE g <= 20;
CREATE TABLE `éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé` (
  `éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé` VARCHAR(10));
INSERT INTO `éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé` VALUES ('long'), ('names');
CREATE TABLE `éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééè` (`v` VARCHAR(10));
INSERT INTO `éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééè` VALUES ('other');

-- 5. Hundreds of ADD COLUMN, some later dropped. -------------------------------------------

CREATE TABLE evolving (id BIGINT PRIMARY KEY, base VARCHAR(20));
INSERT INTO evolving SELECT g, CONCAT('base ', g) FROM seq WHERE g <= 200;
DELIMITER //
CREATE PROCEDURE corpus_evolve()
BEGIN
  DECLARE i INT DEFAULT 1;
  WHILE i <= 300 DO
    SET @ddl = CONCAT('ALTER TABLE evolving ADD COLUMN a', i, ' ',
                      ELT(1 + i % 4, 'INT', 'VARCHAR(12)', 'DATE', 'DECIMAL(9,2)'),
                      IF(i % 5 = 0, CONCAT(' DEFAULT ', ELT(1 + i % 4, i, QUOTE(CONCAT('d', i)),
                                                           QUOTE(DATE '2000-01-01' + INTERVAL i DAY), i / 4)), ''));
    PREPARE st FROM @ddl;
    EXECUTE st;
    IF i % 50 = 0 THEN
      SET @dml = CONCAT('INSERT INTO evolving (id, base, a', i - 1, ') SELECT g + ', 1000 * i, ', ',
                        QUOTE(CONCAT('after ', i)), ', ',
                        ELT(1 + (i - 1) % 4, 'g', 'CONCAT(''v'', g)', 'DATE ''2001-01-01'' + INTERVAL g DAY', 'g / 8'),
                        ' FROM seq WHERE g <= 100');
      PREPARE st FROM @dml;
      EXECUTE st;
    END IF;
    SET i = i + 1;
  END WHILE;
  SET i = 1;
  WHILE i <= 300 DO
    IF i % 7 = 0 OR i % 50 = 1 THEN
      SET @ddl = CONCAT('ALTER TABLE evolving DROP COLUMN a', i);
      PREPARE st FROM @ddl;
      EXECUTE st;
    END IF;
    SET i = i + 1;
  END WHILE;
  DEALLOCATE PREPARE st;
END //
DELIMITER ;
CALL corpus_evolve();
DROP PROCEDURE corpus_evolve;
UPDATE evolving SET a2 = DATE '2020-01-01' + INTERVAL id DAY WHERE id % 3 = 0;

DROP TEMPORARY TABLE seq;
DROP TEMPORARY TABLE digits;
ANALYZE TABLE skewed, composite_key, unique_key;
