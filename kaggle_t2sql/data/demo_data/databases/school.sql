-- school demo database (CC0). A small high school: teachers, courses, students, enrollments.
PRAGMA foreign_keys = ON;

CREATE TABLE teachers (
    teacher_id INTEGER PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    department TEXT NOT NULL,
    hire_date TEXT,
    salary REAL
);

CREATE TABLE courses (
    course_id INTEGER PRIMARY KEY,
    course_code TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    department TEXT NOT NULL,
    credits INTEGER NOT NULL,
    teacher_id INTEGER,
    max_capacity INTEGER,
    FOREIGN KEY (teacher_id) REFERENCES teachers(teacher_id)
);

CREATE TABLE students (
    student_id INTEGER PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    gender TEXT,
    birth_date TEXT,
    grade_level INTEGER NOT NULL,
    city TEXT
);

CREATE TABLE enrollments (
    enrollment_id INTEGER PRIMARY KEY,
    student_id INTEGER NOT NULL,
    course_id INTEGER NOT NULL,
    semester TEXT NOT NULL,
    score REAL,
    letter_grade TEXT,
    FOREIGN KEY (student_id) REFERENCES students(student_id),
    FOREIGN KEY (course_id) REFERENCES courses(course_id)
);

INSERT INTO teachers (teacher_id, first_name, last_name, department, hire_date, salary) VALUES
(1, 'Margaret', 'Hill', 'Mathematics', '2010-08-15', 68000),
(2, 'Robert', 'Chen', 'Mathematics', '2016-08-20', 59000),
(3, 'Linda', 'Okoro', 'Science', '2008-01-10', 72000),
(4, 'Daniel', 'Novak', 'Science', '2019-08-18', 54000),
(5, 'Sofia', 'Ramirez', 'English', '2012-08-14', 63000),
(6, 'Thomas', 'Baker', 'History', '2005-09-01', 75000),
(7, 'Aisha', 'Khan', 'Computer Science', '2018-08-16', 66000),
(8, 'Peter', 'Lindqvist', 'Art', '2014-08-12', 52000),
(9, 'Helen', 'Park', 'English', '2021-08-17', 50000),
(10, 'Marcus', 'Reed', 'Physical Education', '2011-08-15', NULL);

INSERT INTO courses (course_id, course_code, title, department, credits, teacher_id, max_capacity) VALUES
(1, 'MATH101', 'Algebra I', 'Mathematics', 4, 1, 30),
(2, 'MATH201', 'Geometry', 'Mathematics', 4, 2, 30),
(3, 'MATH301', 'Calculus', 'Mathematics', 5, 1, 25),
(4, 'SCI101', 'Biology', 'Science', 4, 3, 28),
(5, 'SCI201', 'Chemistry', 'Science', 4, 4, 28),
(6, 'SCI301', 'Physics', 'Science', 5, 3, 24),
(7, 'ENG101', 'English Literature', 'English', 3, 5, 32),
(8, 'ENG201', 'Creative Writing', 'English', 3, 9, 20),
(9, 'HIS101', 'World History', 'History', 3, 6, 35),
(10, 'HIS201', 'European History', 'History', 3, 6, 30),
(11, 'CS101', 'Intro to Programming', 'Computer Science', 4, 7, 25),
(12, 'CS201', 'Data Structures', 'Computer Science', 4, 7, 20),
(13, 'ART101', 'Drawing Fundamentals', 'Art', 2, 8, 18),
(14, 'PE101', 'Fitness and Wellness', 'Physical Education', 2, NULL, 40),
(15, 'SCI110', 'Environmental Science', 'Science', 3, 4, 30);

INSERT INTO students (student_id, first_name, last_name, gender, birth_date, grade_level, city) VALUES
(1, 'Ava', 'Thompson', 'F', '2008-03-12', 10, 'Springfield'),
(2, 'Ben', 'Carter', 'M', '2007-07-25', 11, 'Riverton'),
(3, 'Chloe', 'Nguyen', 'F', '2009-01-30', 9, 'Springfield'),
(4, 'Diego', 'Morales', 'M', '2006-11-05', 12, 'Lakeside'),
(5, 'Ella', 'Fischer', 'F', '2008-09-18', 10, 'Hillcrest'),
(6, 'Finn', 'O''Brien', 'M', '2007-02-14', 11, 'Springfield'),
(7, 'Gia', 'Patel', 'F', '2006-05-22', 12, 'Riverton'),
(8, 'Hugo', 'Martins', 'M', '2009-04-09', 9, 'Lakeside'),
(9, 'Isla', 'Novak', 'F', '2008-12-01', 10, 'Springfield'),
(10, 'Jack', 'Wilson', 'M', '2007-10-17', 11, 'Hillcrest'),
(11, 'Kara', 'Jensen', 'F', '2006-08-03', 12, 'Springfield'),
(12, 'Leo', 'Rossi', 'M', '2009-06-27', 9, 'Riverton'),
(13, 'Mia', 'Schultz', 'F', '2008-02-11', 10, 'Lakeside'),
(14, 'Nate', 'Brooks', 'M', '2007-03-29', 11, 'Springfield'),
(15, 'Olga', 'Petrova', 'F', '2006-12-19', 12, 'Hillcrest'),
(16, 'Pablo', 'Ortiz', 'M', '2009-09-08', 9, 'Springfield'),
(17, 'Quinn', 'Hayes', NULL, '2008-05-15', 10, 'Riverton'),
(18, 'Rosa', 'Alvarez', 'F', '2007-01-23', 11, 'Lakeside'),
(19, 'Sam', 'Turner', 'M', '2006-10-02', 12, 'Springfield'),
(20, 'Tina', 'Zhou', 'F', '2009-11-14', 9, 'Hillcrest'),
(21, 'Umar', 'Farouk', 'M', '2008-07-07', 10, 'Riverton'),
(22, 'Vera', 'Ivanova', 'F', '2007-04-16', 11, 'Springfield'),
(23, 'Will', 'Harper', 'M', '2006-02-27', 12, 'Lakeside'),
(24, 'Xena', 'Lopez', 'F', '2009-08-21', 9, 'Riverton'),
(25, 'Yusuf', 'Demir', 'M', '2008-10-30', 10, 'Springfield'),
(26, 'Zoe', 'Campbell', 'F', '2007-12-09', 11, 'Hillcrest'),
(27, 'Adam', 'Kowalski', 'M', '2006-06-13', 12, 'Riverton'),
(28, 'Bella', 'Costa', 'F', '2009-02-05', 9, 'Springfield'),
(29, 'Caleb', 'Reed', 'M', '2008-01-19', 10, NULL),
(30, 'Dana', 'White', 'F', '2007-09-04', 11, 'Lakeside');

INSERT INTO enrollments (enrollment_id, student_id, course_id, semester, score, letter_grade) VALUES
(1, 1, 1, 'Fall 2023', 88, 'B'),
(2, 1, 7, 'Fall 2023', 94, 'A'),
(3, 2, 2, 'Fall 2023', 76, 'C'),
(4, 2, 11, 'Fall 2023', 91, 'A'),
(5, 3, 1, 'Fall 2023', 67, 'D'),
(6, 3, 4, 'Fall 2023', 82, 'B'),
(7, 4, 3, 'Fall 2023', 95, 'A'),
(8, 4, 6, 'Fall 2023', 89, 'B'),
(9, 5, 4, 'Fall 2023', 73, 'C'),
(10, 5, 13, 'Fall 2023', 98, 'A'),
(11, 6, 9, 'Fall 2023', 58, 'F'),
(12, 6, 11, 'Fall 2023', 84, 'B'),
(13, 7, 3, 'Fall 2023', 92, 'A'),
(14, 7, 12, 'Fall 2023', 87, 'B'),
(15, 8, 1, 'Fall 2023', 79, 'C'),
(16, 9, 7, 'Fall 2023', 90, 'A'),
(17, 10, 10, 'Fall 2023', 71, 'C'),
(18, 11, 6, 'Fall 2023', 85, 'B'),
(19, 12, 4, 'Fall 2023', 62, 'D'),
(20, 13, 8, 'Fall 2023', 93, 'A'),
(21, 14, 2, 'Fall 2023', 81, 'B'),
(22, 15, 3, 'Fall 2023', 77, 'C'),
(23, 16, 9, 'Fall 2023', 88, 'B'),
(24, 17, 13, 'Fall 2023', 96, 'A'),
(25, 18, 5, 'Fall 2023', 69, 'D'),
(26, 19, 12, 'Fall 2023', 99, 'A'),
(27, 20, 1, 'Fall 2023', 84, 'B'),
(28, 21, 11, 'Fall 2023', 55, 'F'),
(29, 22, 10, 'Fall 2023', 91, 'A'),
(30, 23, 6, 'Fall 2023', 74, 'C'),
(31, 1, 3, 'Spring 2024', NULL, NULL),
(32, 2, 12, 'Spring 2024', 86, 'B'),
(33, 4, 12, 'Spring 2024', NULL, NULL),
(34, 7, 6, 'Spring 2024', 90, 'A'),
(35, 11, 3, 'Spring 2024', 83, 'B'),
(36, 19, 11, 'Spring 2024', 97, 'A'),
(37, 24, 7, 'Spring 2024', 80, 'B'),
(38, 25, 14, 'Spring 2024', 92, 'A'),
(39, 27, 5, 'Spring 2024', 72, 'C'),
(40, 28, 1, 'Spring 2024', 65, 'D');
