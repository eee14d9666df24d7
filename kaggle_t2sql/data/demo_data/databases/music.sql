-- music demo database (CC0). Genres, artists, albums and tracks of a small streaming catalog.
-- Play counts are illustrative, not real streaming figures.
PRAGMA foreign_keys = ON;

CREATE TABLE genres (
    genre_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE artists (
    artist_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    country TEXT,
    formed_year INTEGER,
    artist_type TEXT NOT NULL
);

CREATE TABLE albums (
    album_id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    artist_id INTEGER NOT NULL,
    genre_id INTEGER NOT NULL,
    release_year INTEGER,
    label TEXT,
    price REAL,
    FOREIGN KEY (artist_id) REFERENCES artists(artist_id),
    FOREIGN KEY (genre_id) REFERENCES genres(genre_id)
);

CREATE TABLE tracks (
    track_id INTEGER PRIMARY KEY,
    album_id INTEGER NOT NULL,
    title TEXT NOT NULL,
    track_number INTEGER,
    duration_seconds INTEGER NOT NULL,
    play_count INTEGER,
    explicit INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (album_id) REFERENCES albums(album_id)
);

INSERT INTO genres (genre_id, name) VALUES
(1, 'Rock'),
(2, 'Pop'),
(3, 'Jazz'),
(4, 'Hip Hop'),
(5, 'Electronic'),
(6, 'Classical'),
(7, 'Folk'),
(8, 'R&B'),
(9, 'Country'),
(10, 'Blues');

INSERT INTO artists (artist_id, name, country, formed_year, artist_type) VALUES
(1, 'Radiohead', 'United Kingdom', 1985, 'Band'),
(2, 'Beyonce', 'United States', 1997, 'Solo'),
(3, 'Miles Davis', 'United States', 1944, 'Solo'),
(4, 'Daft Punk', 'France', 1993, 'Band'),
(5, 'Kendrick Lamar', 'United States', 2003, 'Solo'),
(6, 'Adele', 'United Kingdom', 2006, 'Solo'),
(7, 'Coldplay', 'United Kingdom', 1996, 'Band'),
(8, 'Norah Jones', 'United States', 2001, 'Solo'),
(9, 'Taylor Swift', 'United States', 2004, 'Solo'),
(10, 'Arctic Monkeys', 'United Kingdom', 2002, 'Band'),
(11, 'Bjork', 'Iceland', 1977, 'Solo'),
(12, 'Yo-Yo Ma', 'United States', 1961, 'Solo'),
(13, 'Fleetwood Mac', 'United Kingdom', 1967, 'Band'),
(14, 'The Weeknd', 'Canada', 2010, 'Solo'),
(15, 'Sigur Ros', 'Iceland', NULL, 'Band');

INSERT INTO albums (album_id, title, artist_id, genre_id, release_year, label, price) VALUES
(1, 'OK Computer', 1, 1, 1997, 'Parlophone', 11.99),
(2, 'Kid A', 1, 5, 2000, 'Parlophone', 11.99),
(3, 'In Rainbows', 1, 1, 2007, NULL, 9.99),
(4, 'Lemonade', 2, 8, 2016, 'Columbia', 12.99),
(5, 'Renaissance', 2, 2, 2022, 'Columbia', 13.99),
(6, 'Kind of Blue', 3, 3, 1959, 'Columbia', 8.99),
(7, 'Sketches of Spain', 3, 3, 1960, 'Columbia', 8.99),
(8, 'Random Access Memories', 4, 5, 2013, 'Columbia', 12.99),
(9, 'Discovery', 4, 5, 2001, 'Virgin', 10.99),
(10, 'To Pimp a Butterfly', 5, 4, 2015, 'Interscope', 12.99),
(11, 'DAMN.', 5, 4, 2017, 'Interscope', 11.99),
(12, '21', 6, 2, 2011, 'XL Recordings', 10.99),
(13, '25', 6, 2, 2015, 'XL Recordings', 11.99),
(14, 'A Rush of Blood to the Head', 7, 1, 2002, 'Parlophone', 9.99),
(15, 'Parachutes', 7, 1, 2000, 'Parlophone', 8.99),
(16, 'Come Away with Me', 8, 3, 2002, 'Blue Note', 9.99),
(17, '1989', 9, 2, 2014, 'Big Machine', 11.99),
(18, 'Folklore', 9, 7, 2020, 'Republic', 12.99),
(19, 'AM', 10, 1, 2013, 'Domino', 10.99),
(20, 'Whatever People Say I Am, That''s What I''m Not', 10, 1, 2006, 'Domino', 9.99),
(21, 'Homogenic', 11, 5, 1997, 'One Little Indian', 10.99),
(22, 'Bach: The Cello Suites', 12, 6, 1983, 'CBS Masterworks', 14.99),
(23, 'Rumours', 13, 1, 1977, 'Warner Bros.', 9.99),
(24, 'After Hours', 14, 8, 2020, 'Republic', 12.99),
(25, 'Starboy', 14, 8, 2016, 'Republic', 11.99);

INSERT INTO tracks (track_id, album_id, title, track_number, duration_seconds, play_count, explicit) VALUES
(1, 1, 'Paranoid Android', 2, 383, 1520000, 0),
(2, 1, 'Karma Police', 6, 264, 2310000, 0),
(3, 2, 'Everything in Its Right Place', 1, 251, 870000, 0),
(4, 2, 'Idioteque', 8, 309, 640000, 0),
(5, 3, 'Reckoner', 7, 290, 910000, 0),
(6, 3, 'Nude', 3, 255, 720000, 0),
(7, 4, 'Formation', 12, 206, 1750000, 1),
(8, 4, 'Hold Up', 2, 221, 1230000, 1),
(9, 5, 'Break My Soul', 6, 278, 2050000, 0),
(10, 5, 'Cuff It', 9, 225, 1880000, 1),
(11, 6, 'So What', 1, 562, 1340000, 0),
(12, 6, 'Blue in Green', 3, 337, 990000, 0),
(13, 7, 'Concierto de Aranjuez', 1, 979, 310000, 0),
(14, 8, 'Get Lucky', 8, 369, 3100000, 0),
(15, 8, 'Instant Crush', 5, 337, 1420000, 0),
(16, 9, 'One More Time', 1, 320, 2750000, 0),
(17, 10, 'Alright', 7, 219, 2200000, 1),
(18, 10, 'King Kunta', 3, 234, 1650000, 1),
(19, 11, 'HUMBLE.', 8, 177, 3400000, 1),
(20, 11, 'DNA.', 2, 185, 2100000, 1),
(21, 12, 'Rolling in the Deep', 1, 228, 3900000, 0),
(22, 12, 'Someone Like You', 11, 285, 3600000, 0),
(23, 13, 'Hello', 1, 295, 3700000, 0),
(24, 14, 'Clocks', 5, 307, 2900000, 0),
(25, 14, 'The Scientist', 4, 309, 3050000, 0),
(26, 15, 'Yellow', 5, 266, 3300000, 0),
(27, 16, 'Don''t Know Why', 1, 186, 1850000, 0),
(28, 17, 'Blank Space', 2, 231, 3500000, 0),
(29, 17, 'Shake It Off', 6, 219, 3450000, 0),
(30, 18, 'Cardigan', 2, 239, 1900000, 0),
(31, 19, 'Do I Wanna Know?', 1, 272, 3800000, 0),
(32, 20, 'I Bet You Look Good on the Dancefloor', 2, 173, 1400000, 0),
(33, 21, 'Joga', 2, 305, 650000, 0),
(34, 21, 'Bachelorette', 5, 312, 520000, 0),
(35, 22, 'Suite No. 1 in G Major: Prelude', 1, 150, 980000, 0),
(36, 23, 'Dreams', 2, 257, 3200000, 0),
(37, 24, 'Blinding Lights', 9, 200, 4500000, 0),
(38, 24, 'Save Your Tears', 11, 215, 3100000, 0),
(39, 25, 'Starboy', 1, 230, 3950000, 1),
(40, 13, 'When We Were Young', 5, 291, NULL, 0);
