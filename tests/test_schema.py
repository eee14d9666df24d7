import pytest
from conftest import SPIDER, change_db, needs_spider

from kaggle_t2sql.errors import DataError
from kaggle_t2sql.schema import quote_identifier, schema_text

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
    from kaggle_t2sql.schema import _read_tables

    first = schema_text(shop_db)
    hits = _read_tables.cache_info().hits
    assert schema_text(shop_db) == first and _read_tables.cache_info().hits == hits + 1  # read once
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
    text = schema_text(SPIDER / "database" / "concert_singer" / "concert_singer.sqlite")
    assert "    `Year` TEXT, -- example: ['2014', '2015']" in text
    assert "    PRIMARY KEY (concert_ID, Singer_ID)," in text
    assert (
        "    CONSTRAINT fk_singer_in_concert_concert_id FOREIGN KEY (concert_ID) REFERENCES concert (concert_ID),\n"
        "    CONSTRAINT fk_singer_in_concert_singer_id FOREIGN KEY (Singer_ID) REFERENCES singer (Singer_ID)\n);"
    ) in text
    assert text.count("CREATE TABLE") == 4
