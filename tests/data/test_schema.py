import json
import random
import sqlite3

import omnisql_anchor as anchor
import pytest
from conftest import SPIDER, change_db, make_db, needs_spider

from kaggle_t2sql.errors import DataError
from kaggle_t2sql.data.schema import (
    build_db_details,
    database_info,
    derive_database_info,
    quote_identifier,
    read_tables_json,
    sample_values,
    schema_text,
)

EXPECTED_SHOP = """CREATE TABLE customers (
    id INTEGER, -- example: [1, 2]
    name TEXT, -- example: ['Ada', 'Bob']
    `group` TEXT, -- example: ['gold', 'silver']
    city TEXT, -- example: ['London', 'Paris']
    PRIMARY KEY (id)
);

CREATE TABLE orders (
    order_id INTEGER, -- example: [10, 11]
    customer_id INTEGER, -- example: [1, 3]
    total REAL, -- example: [9.5, 20.0]
    note TEXT, -- example: ['a very long note that goes well past for', 'short']
    PRIMARY KEY (order_id),
    CONSTRAINT fk_orders_customer_id FOREIGN KEY (customer_id) REFERENCES customers (id)
);"""


def test_schema_text_exact_form(shop_db):
    # NULL and '' are never examples; strings cut at 40 chars; reserved word `group` backticked
    assert schema_text(shop_db) == EXPECTED_SHOP


def test_value_limit_and_no_values(shop_db):
    one = schema_text(shop_db, value_limit=1)
    assert "    name TEXT, -- example: ['Ada']" in one
    none = schema_text(shop_db, value_limit=0)
    assert "example" not in none and "    name TEXT,\n" in none and none.count("CREATE TABLE") == 2


def test_deterministic_and_cache_follows_file_changes(shop_db):
    from kaggle_t2sql.data.schema import _derived_info, _sampled

    first = schema_text(shop_db)
    hits, value_hits = _derived_info.cache_info().hits, _sampled.cache_info().hits
    assert schema_text(shop_db) == first  # read once
    assert _derived_info.cache_info().hits == hits + 1 and _sampled.cache_info().hits == value_hits + 1
    change_db(shop_db, "CREATE TABLE extra (x TEXT)")
    assert "CREATE TABLE extra (\n    x TEXT\n);" in schema_text(shop_db)


def test_schema_reading_never_modifies_the_file(shop_db):
    before = shop_db.read_bytes()
    schema_text(shop_db, value_limit=3)
    assert shop_db.read_bytes() == before


def test_missing_or_bad_database(tmp_path):
    with pytest.raises(DataError, match="not found"):
        schema_text(tmp_path / "nope.sqlite")
    bad = tmp_path / "bad.sqlite"
    bad.write_text("this is not sqlite")
    with pytest.raises(DataError, match="is it a SQLite file"):
        schema_text(bad)


def test_quote_identifier():
    assert [quote_identifier(n) for n in ("name", "order", "first name", "a-b", "x_1")] == [
        "name", "`order`", "`first name`", "`a-b`", "x_1"]


@needs_spider
def test_spider_concert_singer_keys_and_values():
    """Without tables.json: derived from the file (declared types, no comments)."""
    text = schema_text(SPIDER / "database" / "concert_singer" / "concert_singer.sqlite")
    assert "    `Year` TEXT, -- example: ['2014', '2015']" in text
    assert "    PRIMARY KEY (concert_ID, Singer_ID)," in text
    assert (
        "    CONSTRAINT fk_singer_in_concert_concert_id FOREIGN KEY (concert_ID) REFERENCES concert (concert_ID),\n"
        "    CONSTRAINT fk_singer_in_concert_singer_id FOREIGN KEY (Singer_ID) REFERENCES singer (Singer_ID)\n);"
    ) in text
    assert text.count("CREATE TABLE") == 4


def _spider_entries():
    return json.loads((SPIDER / "tables.json").read_text(encoding="utf-8"))


def _spider_db(db_id):
    return SPIDER / "database" / db_id / f"{db_id}.sqlite"


@needs_spider
def test_db_details_byte_identical_to_the_anchor_on_every_spider_database():
    """dev/test mode: the anchor's sample_table_values + obtain_db_details (tests/data/omnisql_anchor.py) on the
    same tables.json and database, with and without retrieved values."""
    tables = SPIDER / "tables.json"
    entries = _spider_entries()
    assert len(entries) == 19
    for entry in entries:
        db = _spider_db(entry["db_id"])
        for limit in (2, 1, 0):
            sampled = anchor.sample_table_values(str(db), entry["table_names_original"], limit) if limit else {}
            expected = anchor.obtain_db_details(entry, "spider", sampled, {}, "", "dev", "")
            assert schema_text(db, limit, None, tables, entry["db_id"]) == expected, (entry["db_id"], limit)
        # retrieved values first, deduplicated, at most 6 (column keys as the anchor builds them)
        first = entry["table_names_original"][0]
        columns = [c for t, c in entry["column_names_original"] if t == 0]
        matched = {f"{first}.{columns[0]}".lower(): ["zz top", "yy", "xx", "ww", "vv"],
                   f"{first}.{columns[-1]}".lower(): ["only one"]}
        sampled = anchor.sample_table_values(str(db), entry["table_names_original"], 2)
        expected = anchor.obtain_db_details(entry, "spider", sampled, matched, "", "test", "")
        assert schema_text(db, 2, matched, tables, entry["db_id"]) == expected, entry["db_id"]


@needs_spider
def test_spider_text_comes_from_tables_json():
    text = schema_text(_spider_db("flight_2"), 2, None, SPIDER / "tables.json", "flight_2")
    assert "    uid number, -- airline id, example: [1, 2]" in text  # tables.json type and comment
    assert "    Abbreviation text, -- example: ['UAL', 'USAir']" in text  # comment == name: no comment


@needs_spider
def test_train_mode_augmentation_is_the_anchors_for_the_same_random_state():
    """OmniSQL's train mode (key + used columns, sampled others, shuffled tables, random comments for
    synthetic data), drawn from a seeded generator in the anchor's order."""
    tables = SPIDER / "tables.json"
    for entry in _spider_entries()[:8]:
        db = _spider_db(entry["db_id"])
        info = database_info(db, tables, entry["db_id"])
        sampled = sample_values(db, info.table_names_original, 2)
        output = "SELECT count(*) FROM " + entry["table_names_original"][-1]
        for seed in (0, 1, 7):
            for source, synthetic in (("synthetic", True), ("spider", False)):
                random.seed(seed)
                expected = anchor.obtain_db_details(entry, source, dict(sampled), {}, output, "train", "")
                assert build_db_details(info, sampled, None, random.Random(seed), output, synthetic) == expected
    one = database_info(_spider_db("flight_2"), tables, "flight_2")
    texts = {build_db_details(one, {}, None, random.Random(s), "SELECT 1") for s in range(10)}
    assert len(texts) > 1  # it varies with the seed, and is fixed by it
    assert build_db_details(one, {}, None, random.Random(3), "x") == build_db_details(one, {}, None, random.Random(3), "x")


def _derive_with_the_anchor_script(db_path):
    """generate_tables_json.py's per-database body (OmniSQL data_synthesis/database_synthesis), for a
    database written in its format; its helpers are the script's, inlined."""
    import re

    conn = sqlite3.connect(db_path)
    ddls = [sql for _, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type='table';")]
    table = {"column_names": [[-1, "*"]], "column_names_original": [[-1, "*"]], "column_types": ["text"],
             "table_names": [], "table_names_original": [], "foreign_keys": [], "primary_keys": []}
    pks, fks, names = [], [], ["*"]
    for table_idx, ddl in enumerate(ddls):
        table_name = re.search(r'CREATE TABLE\s+"([^"]+)"', ddl).group(1)
        table["table_names"].append(table_name)
        table["table_names_original"].append(table_name)
        for column_name, column_type, comment in re.findall(r'"([^"]+)"\s+(\w+)\s*/\*\s*(.*?)\s*\*/', ddl):
            table["column_names"].append([table_idx, comment])
            table["column_names_original"].append([table_idx, column_name])
            table["column_types"].append(column_type)
            names.append(f'"{table_name}"."{column_name}"')
        rows = conn.execute(f"SELECT name, type, pk FROM PRAGMA_TABLE_INFO('{table_name}')").fetchall()
        pks.append([f'"{table_name}"."{r[0]}"' for r in rows if r[2] == 1])
        fks.extend([f'"{table_name}"."{r[3]}"', f'"{r[2]}"."{r[4]}"']
                   for r in conn.execute(f"SELECT * FROM pragma_foreign_key_list('{table_name}');"))
    conn.close()
    for pk in pks:
        if len(pk) == 1:
            table["primary_keys"].append(names.index(pk[0]))
    table["foreign_keys"] = [[names.index(a), names.index(b)] for a, b in fks]
    return table


def test_derived_entry_matches_generate_tables_json_on_its_own_format(tmp_path):
    db = tmp_path / "synth" / "synth.sqlite"
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    conn.executescript("""
        CREATE TABLE "users" (
            "user_id" INTEGER /* Unique identifier for each user */,
            "user_name" TEXT /* user name */,
            "order" TEXT /* Sort position shown in the app */,
            PRIMARY KEY ("user_id")
        );
        CREATE TABLE "posts" (
            "post_id" INTEGER /* Unique identifier for each post */,
            "user_id" INTEGER /* Author of the post */,
            "title" TEXT /* Post title */,
            PRIMARY KEY ("post_id"),
            FOREIGN KEY ("user_id") REFERENCES "users" ("user_id")
        );
        INSERT INTO users VALUES (1, 'ada', 'first'), (2, 'bob', '');
        INSERT INTO posts VALUES (10, 1, 'hello'), (11, 2, NULL);
    """)
    conn.close()
    entry = _derive_with_the_anchor_script(db)
    info = derive_database_info(db)
    assert [list(c) for c in info.column_names_original] == entry["column_names_original"]
    assert [list(c) for c in info.column_names] == entry["column_names"]
    assert list(info.column_types) == entry["column_types"]
    assert list(info.table_names_original) == entry["table_names_original"]
    assert list(info.primary_keys) == entry["primary_keys"]
    assert [list(f) for f in info.foreign_keys] == entry["foreign_keys"]
    sampled = anchor.sample_table_values(str(db), entry["table_names_original"], 2)
    expected = anchor.obtain_db_details({**entry, "db_id": "synth"}, "spider", sampled, {}, "", "dev", "")
    assert schema_text(db) == expected
    assert "    `order` TEXT, -- Sort position shown in the app, example: ['first']" in expected
    assert "    user_name TEXT, -- example: ['ada', 'bob']" in expected  # comment == name: left out


def test_tables_json_beats_the_file_and_names_a_missing_db(shop_db, tmp_path):
    tables = tmp_path / "tables.json"
    tables.write_text(json.dumps([{
        "db_id": "shop", "table_names_original": ["customers"], "table_names": ["customers"],
        "column_names_original": [[-1, "*"], [0, "id"], [0, "name"]],
        "column_names": [[-1, "*"], [0, "customer id"], [0, "full name"]],
        "column_types": ["text", "number", "text"], "primary_keys": [1], "foreign_keys": []}]))
    assert schema_text(shop_db, 2, None, tables, "shop") == (
        "CREATE TABLE customers (\n    id number, -- customer id, example: [1, 2]\n"
        "    name text, -- full name, example: ['Ada', 'Bob']\n    PRIMARY KEY (id)\n);")
    assert set(read_tables_json(tables)) == {"shop"}
    with pytest.raises(DataError, match="no entry for db_id 'other'"):
        schema_text(shop_db, 2, None, tables, "other")
    tables.write_text(json.dumps([{"db_id": "shop", "table_names_original": ["customers"]}]))
    with pytest.raises(DataError, match="malformed tables.json entry"):
        schema_text(shop_db, 2, None, tables, "shop")


def test_derived_entry_where_it_departs_from_generate_tables_json(tmp_path):
    """A user's database: composite keys kept whole, unquoted names and their comments read,
    `REFERENCES t` without a column resolved to t's primary key (the script would drop or cut them)."""
    db = make_db(tmp_path / "mine" / "mine.sqlite", """
        CREATE TABLE teams (team_id INTEGER /* the team */ PRIMARY KEY, name TEXT);
        CREATE TABLE members (
            team_id INTEGER REFERENCES teams,
            person TEXT /* member's full name */,
            PRIMARY KEY (team_id, person)
        );
        INSERT INTO teams VALUES (1, 'red');
        INSERT INTO members VALUES (1, 'Ada');
    """)
    assert schema_text(db) == (
        "CREATE TABLE teams (\n    team_id INTEGER, -- the team, example: [1]\n    name TEXT, -- example: ['red']\n"
        "    PRIMARY KEY (team_id)\n);\n\n"
        "CREATE TABLE members (\n    team_id INTEGER, -- example: [1]\n"
        "    person TEXT, -- member's full name, example: ['Ada']\n    PRIMARY KEY (team_id, person),\n"
        "    CONSTRAINT fk_members_team_id FOREIGN KEY (team_id) REFERENCES teams (team_id)\n);")
