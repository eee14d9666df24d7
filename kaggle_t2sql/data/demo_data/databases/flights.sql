-- flights demo database (CC0). Airports, airlines, flights, passengers and bookings.
-- All timestamps are UTC, stored as 'YYYY-MM-DD HH:MM' text.
PRAGMA foreign_keys = ON;

CREATE TABLE airports (
    airport_code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    city TEXT NOT NULL,
    country TEXT NOT NULL,
    elevation_ft INTEGER,
    timezone TEXT
);

CREATE TABLE airlines (
    airline_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    iata_code TEXT NOT NULL UNIQUE,
    country TEXT NOT NULL,
    founded_year INTEGER,
    alliance TEXT
);

CREATE TABLE flights (
    flight_id INTEGER PRIMARY KEY,
    flight_number TEXT NOT NULL,
    airline_id INTEGER NOT NULL,
    origin TEXT NOT NULL,
    destination TEXT NOT NULL,
    departure_time TEXT NOT NULL,
    arrival_time TEXT NOT NULL,
    distance_km INTEGER,
    status TEXT NOT NULL,
    FOREIGN KEY (airline_id) REFERENCES airlines(airline_id),
    FOREIGN KEY (origin) REFERENCES airports(airport_code),
    FOREIGN KEY (destination) REFERENCES airports(airport_code)
);

CREATE TABLE passengers (
    passenger_id INTEGER PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    nationality TEXT,
    birth_date TEXT,
    frequent_flyer_level TEXT
);

CREATE TABLE bookings (
    booking_id INTEGER PRIMARY KEY,
    flight_id INTEGER NOT NULL,
    passenger_id INTEGER NOT NULL,
    seat_class TEXT NOT NULL,
    seat_number TEXT,
    price REAL NOT NULL,
    booking_date TEXT NOT NULL,
    FOREIGN KEY (flight_id) REFERENCES flights(flight_id),
    FOREIGN KEY (passenger_id) REFERENCES passengers(passenger_id)
);

INSERT INTO airports (airport_code, name, city, country, elevation_ft, timezone) VALUES
('JFK', 'John F. Kennedy International Airport', 'New York', 'United States', 13, 'America/New_York'),
('LAX', 'Los Angeles International Airport', 'Los Angeles', 'United States', 125, 'America/Los_Angeles'),
('ORD', 'O''Hare International Airport', 'Chicago', 'United States', 672, 'America/Chicago'),
('DEN', 'Denver International Airport', 'Denver', 'United States', 5434, 'America/Denver'),
('LHR', 'Heathrow Airport', 'London', 'United Kingdom', 83, 'Europe/London'),
('LGW', 'Gatwick Airport', 'London', 'United Kingdom', 202, 'Europe/London'),
('CDG', 'Charles de Gaulle Airport', 'Paris', 'France', 392, 'Europe/Paris'),
('FRA', 'Frankfurt Airport', 'Frankfurt', 'Germany', 364, 'Europe/Berlin'),
('HND', 'Haneda Airport', 'Tokyo', 'Japan', 21, 'Asia/Tokyo'),
('NRT', 'Narita International Airport', 'Tokyo', 'Japan', 141, 'Asia/Tokyo'),
('DXB', 'Dubai International Airport', 'Dubai', 'United Arab Emirates', 62, 'Asia/Dubai'),
('SIN', 'Singapore Changi Airport', 'Singapore', 'Singapore', 22, 'Asia/Singapore'),
('SYD', 'Sydney Kingsford Smith Airport', 'Sydney', 'Australia', 21, 'Australia/Sydney');

INSERT INTO airlines (airline_id, name, iata_code, country, founded_year, alliance) VALUES
(1, 'Delta Air Lines', 'DL', 'United States', 1924, 'SkyTeam'),
(2, 'American Airlines', 'AA', 'United States', 1926, 'oneworld'),
(3, 'United Airlines', 'UA', 'United States', 1926, 'Star Alliance'),
(4, 'British Airways', 'BA', 'United Kingdom', 1974, 'oneworld'),
(5, 'Air France', 'AF', 'France', 1933, 'SkyTeam'),
(6, 'Lufthansa', 'LH', 'Germany', 1953, 'Star Alliance'),
(7, 'Japan Airlines', 'JL', 'Japan', 1951, 'oneworld'),
(8, 'Emirates', 'EK', 'United Arab Emirates', 1985, NULL),
(9, 'Singapore Airlines', 'SQ', 'Singapore', 1947, 'Star Alliance'),
(10, 'Qantas', 'QF', 'Australia', 1920, 'oneworld'),
(11, 'easyJet', 'U2', 'United Kingdom', 1995, NULL);

INSERT INTO flights (flight_id, flight_number, airline_id, origin, destination, departure_time, arrival_time, distance_km, status) VALUES
(1, 'DL100', 1, 'JFK', 'LAX', '2024-03-01 08:00', '2024-03-01 14:05', 3983, 'Landed'),
(2, 'AA200', 2, 'LAX', 'JFK', '2024-03-01 16:30', '2024-03-01 21:55', 3983, 'Landed'),
(3, 'UA300', 3, 'ORD', 'DEN', '2024-03-01 13:00', '2024-03-01 15:35', 1427, 'Delayed'),
(4, 'BA117', 4, 'LHR', 'JFK', '2024-03-02 11:20', '2024-03-02 19:30', 5540, 'Landed'),
(5, 'BA178', 4, 'JFK', 'LHR', '2024-03-02 22:00', '2024-03-03 05:00', 5540, 'Landed'),
(6, 'AF006', 5, 'CDG', 'JFK', '2024-03-02 09:30', '2024-03-02 17:45', 5837, 'Delayed'),
(7, 'LH400', 6, 'FRA', 'JFK', '2024-03-03 09:55', '2024-03-03 18:40', 6200, 'Landed'),
(8, 'JL005', 7, 'HND', 'JFK', '2024-03-03 01:00', '2024-03-03 13:50', 10870, 'Landed'),
(9, 'EK001', 8, 'DXB', 'LHR', '2024-03-03 03:00', '2024-03-03 10:40', 5470, 'Landed'),
(10, 'SQ322', 9, 'SIN', 'LHR', '2024-03-04 15:00', '2024-03-05 05:00', 10880, 'Landed'),
(11, 'QF1', 10, 'SYD', 'SIN', '2024-03-04 06:00', '2024-03-04 14:10', 6300, 'Landed'),
(12, 'EK412', 8, 'DXB', 'SYD', '2024-03-05 02:15', '2024-03-05 16:15', 12040, 'Delayed'),
(13, 'DL405', 1, 'JFK', 'CDG', '2024-03-05 22:30', '2024-03-06 05:55', 5837, 'Landed'),
(14, 'AF023', 5, 'CDG', 'DXB', '2024-03-06 10:00', '2024-03-06 16:40', 5250, 'Landed'),
(15, 'LH902', 6, 'FRA', 'LHR', '2024-03-06 07:00', '2024-03-06 08:30', 655, 'Cancelled'),
(16, 'BA304', 4, 'LHR', 'CDG', '2024-03-06 12:00', '2024-03-06 13:15', 344, 'Landed'),
(17, 'UA837', 3, 'ORD', 'NRT', '2024-03-06 17:00', '2024-03-07 06:30', 10060, 'Landed'),
(18, 'JL061', 7, 'NRT', 'LAX', '2024-03-07 01:00', '2024-03-07 11:05', 8750, 'Landed'),
(19, 'AA100', 2, 'JFK', 'LHR', '2024-03-07 22:15', '2024-03-08 05:10', 5540, 'Delayed'),
(20, 'DL1580', 1, 'DEN', 'ORD', '2024-03-07 14:00', '2024-03-07 16:20', 1427, 'Landed'),
(21, 'UA500', 3, 'DEN', 'LAX', '2024-03-08 15:30', '2024-03-08 18:00', 1385, 'Cancelled'),
(22, 'SQ12', 9, 'SIN', 'HND', '2024-03-08 23:00', '2024-03-09 05:50', 5320, 'Landed'),
(23, 'QF11', 10, 'SYD', 'LAX', '2024-03-08 23:30', '2024-03-09 13:20', 12050, 'Scheduled'),
(24, 'EK203', 8, 'DXB', 'JFK', '2024-03-09 04:00', '2024-03-09 18:10', 11020, 'Scheduled'),
(25, 'AF1680', 5, 'CDG', 'FRA', '2024-03-09 08:00', '2024-03-09 09:10', 479, 'Scheduled'),
(26, 'LH714', 6, 'FRA', 'HND', '2024-03-09 11:00', '2024-03-10 01:30', 9360, 'Scheduled'),
(27, 'BA15', 4, 'LHR', 'SYD', '2024-03-09 20:00', '2024-03-10 18:30', 17020, 'Scheduled'),
(28, 'AA1220', 2, 'LAX', 'ORD', '2024-03-10 06:00', '2024-03-10 10:10', 2805, 'Scheduled'),
(29, 'JL43', 7, 'HND', 'LHR', '2024-03-10 02:00', '2024-03-10 16:40', 9580, 'Scheduled'),
(30, 'DL41', 1, 'LAX', 'SYD', '2024-03-10 06:30', '2024-03-10 21:20', 12050, 'Scheduled');

INSERT INTO passengers (passenger_id, first_name, last_name, nationality, birth_date, frequent_flyer_level) VALUES
(1, 'John', 'Miller', 'United States', '1980-04-12', 'Gold'),
(2, 'Sarah', 'Connor', 'United States', '1975-08-29', NULL),
(3, 'Oliver', 'Smith', 'United Kingdom', '1990-01-05', 'Silver'),
(4, 'Amelie', 'Dubois', 'France', '1988-06-17', 'Platinum'),
(5, 'Lukas', 'Weber', 'Germany', '1972-11-23', 'Gold'),
(6, 'Yuki', 'Sato', 'Japan', '1995-03-02', NULL),
(7, 'Ahmed', 'Al Mansouri', 'United Arab Emirates', '1983-09-14', 'Platinum'),
(8, 'Wei', 'Lin', 'Singapore', '1992-12-30', 'Silver'),
(9, 'Chloe', 'Wilson', 'Australia', '2001-07-19', NULL),
(10, 'Carlos', 'Mendes', 'Brazil', '1986-02-08', 'Silver'),
(11, 'Priya', 'Sharma', 'India', '1979-10-03', 'Gold'),
(12, 'Emily', 'Clark', 'United States', '1999-05-25', NULL),
(13, 'Hans', 'Muller', 'Germany', '1965-08-11', 'Silver'),
(14, 'Sophie', 'Martin', 'France', '1993-04-04', NULL),
(15, 'Kenji', 'Watanabe', 'Japan', '1970-12-15', 'Gold'),
(16, 'Fatima', 'Hassan', 'United Arab Emirates', '1997-01-27', NULL),
(17, 'James', 'Brown', 'United Kingdom', '1984-06-09', 'Gold'),
(18, 'Olivia', 'Taylor', 'Australia', '1991-09-21', 'Silver'),
(19, 'Michael', 'Johnson', 'United States', '1968-03-16', 'Platinum'),
(20, 'Anna', 'Kowalska', 'Poland', '2000-11-11', NULL),
(21, 'Rahul', 'Verma', 'India', '1987-07-01', NULL),
(22, 'Emma', 'Lee', 'Singapore', '1994-02-14', 'Silver');

INSERT INTO bookings (booking_id, flight_id, passenger_id, seat_class, seat_number, price, booking_date) VALUES
(1, 1, 1, 'Business', '2A', 1250.00, '2024-01-15'),
(2, 1, 2, 'Economy', '23C', 320.00, '2024-02-01'),
(3, 2, 1, 'Business', '3A', 1180.00, '2024-01-15'),
(4, 2, 19, 'First', '1A', 2450.00, '2024-01-20'),
(5, 3, 2, 'Economy', '18F', 185.00, '2024-02-15'),
(6, 4, 3, 'Premium Economy', '31D', 890.00, '2024-01-28'),
(7, 4, 17, 'Business', '11K', 3100.00, '2024-01-05'),
(8, 5, 17, 'Business', '12A', 3050.00, '2024-01-05'),
(9, 6, 4, 'First', '2K', 5200.00, '2023-12-20'),
(10, 7, 5, 'Business', '5D', 2890.00, '2024-01-11'),
(11, 7, 13, 'Economy', '44H', 610.00, '2024-02-03'),
(12, 8, 6, 'Economy', '55C', 980.00, '2024-02-07'),
(13, 8, 15, 'First', '1D', 7800.00, '2024-01-02'),
(14, 9, 7, 'First', '2A', 4600.00, '2024-02-12'),
(15, 10, 8, 'Business', '14F', 3900.00, '2024-01-30'),
(16, 11, 9, 'Economy', '47B', 560.00, '2024-02-22'),
(17, 11, 18, 'Premium Economy', '29A', 1100.00, '2024-02-05'),
(18, 12, 7, 'First', '1K', 6900.00, '2024-01-19'),
(19, 12, 18, 'Economy', '52G', 850.00, '2024-02-25'),
(20, 13, 19, 'Business', '6B', 2750.00, '2024-01-25'),
(21, 13, 4, 'Business', '7A', 2600.00, '2024-02-08'),
(22, 14, 14, 'Economy', '33C', 450.00, '2024-02-26'),
(23, 15, 5, 'Economy', '12C', 150.00, '2024-02-28'),
(24, 16, 3, 'Economy', '20A', 95.00, '2024-02-29'),
(25, 17, 11, 'Business', '8F', 4200.00, '2024-01-12'),
(26, 18, 15, 'Business', '4A', 3650.00, '2024-01-14'),
(27, 19, 1, 'Economy', '27D', 610.00, '2024-02-19'),
(28, 19, 12, 'Economy', '27E', 610.00, '2024-02-19'),
(29, 20, 2, 'Economy', '15B', 140.00, '2024-03-01'),
(30, 21, 19, 'Business', '2C', 420.00, '2024-03-02'),
(31, 22, 8, 'Premium Economy', '22A', 720.00, '2024-02-27'),
(32, 23, 9, 'Economy', '60J', 1350.00, '2024-01-31'),
(33, 24, 10, 'Economy', '41C', 990.00, '2024-02-14'),
(34, 26, 13, 'Business', '9A', 4100.00, '2024-02-02'),
(35, 27, 17, 'First', '1A', 9800.00, '2024-01-03'),
(36, 29, 6, 'Premium Economy', '25K', 1500.00, '2024-02-21'),
(37, 30, 11, 'Economy', '58B', 1280.00, '2024-03-03'),
(38, 30, 20, 'Economy', '58C', 1280.00, '2024-03-03'),
(39, 28, 20, 'Economy', NULL, 210.00, '2024-03-04'),
(40, 16, 14, 'Economy', NULL, 120.00, '2024-03-05');
