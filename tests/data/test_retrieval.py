"""Value retrieval: OmniSQL's recipe on small built databases; the on-disk index, its cache and its memory."""

import json
import sqlite3
import tracemalloc

import pytest
from conftest import BIRD, SPIDER, change_db, make_db, needs_bird, needs_spider

from kaggle_t2sql.config import DataConfig, RunConfig, training_math
from kaggle_t2sql.data.examples import Example
from kaggle_t2sql.data import retrieval
from kaggle_t2sql.data.retrieval import (
    MAX_VALUES, coverage, index_dir, matched_values, open_index, question_matcher, question_queries)
from kaggle_t2sql.data.schema import schema_text
from kaggle_t2sql.data.tokenization import prompt_text

PEOPLE_SQL = """
CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, city TEXT, code TEXT, bio TEXT);
INSERT INTO people VALUES
  (1, 'Ada Lovelace', 'London', '1815', 'A mathematician who wrote the first published algorithm'),
  (2, 'Adam Smith', 'Kirkcaldy', '1723', 'short'),
  (3, 'Alan Turing', 'Maida Vale', '1912', NULL),
  (4, 'Grace Hopper', 'New York City', 'GH-1906', ''),
  (5, 'Edsger Dijkstra', 'Rotterdam', '1930', 'x');
"""


@pytest.fixture
def people_db(tmp_path):
    return make_db(tmp_path / "people" / "people.sqlite", PEOPLE_SQL)


def test_queries_are_ngrams_up_to_8_then_the_question():
    q = "Who was born in New York City before the year 1900 ?"
    queries = question_queries(q)
    assert queries[:3] == ["Who", "was", "born"] and "New York City" in queries and queries[-1] == q
    words = q.split()
    assert len(queries) == len({" ".join(words[i:i + n]) for n in range(1, 9) for i in range(len(words) - n + 1)}) + 1
    assert all(len(g.split()) <= 8 for g in queries[:-1])


def test_coverage_is_the_longest_common_substring_share():
    m = question_matcher("Which people live in new york city?")
    assert coverage("New York City", m) == 1.0  # case-insensitive
    assert coverage("New York", m) == 1.0
    assert coverage("York Town", m) == pytest.approx(5 / 9)  # "york " is the longest shared run
    long_q = question_matcher("e" * 300 + " the value Rotterdam")  # >= 200 chars: no autojunk
    assert coverage("Rotterdam", long_q) == 1.0


def test_matched_values_follow_the_recipe(people_db):
    found = matched_values(people_db, "Who was born in new york city or in rotterdam?", progress=False)
    assert found == {"people.city": ["New York City", "Rotterdam"]}  # longer first at equal coverage
    # a value only partly in the question (Adam vs "Ada") is dropped; numbers are never indexed
    assert matched_values(people_db, "What did Ada write in 1815?", progress=False) == {}
    index = open_index(people_db, progress=False)
    indexed = {index.value(i)[2] for i in range(len(index))}
    assert "1815" not in indexed and "GH-1906" in indexed and "" not in indexed
    assert not any(len(v) > 40 for v in indexed)  # the 56-character bio is not indexed


def test_at_most_20_values_best_first(tmp_path):
    words = [f"w{i:02d}" for i in range(30)]
    db = make_db(tmp_path / "many.sqlite", "CREATE TABLE t (v TEXT);" + "".join(
        f"INSERT INTO t VALUES ('{w}');" for w in words) + "INSERT INTO t VALUES ('w00 w01 w02 w03');")
    found = matched_values(db, " ".join(words), progress=False)["t.v"]
    assert len(found) == MAX_VALUES and found[0] == "w00 w01 w02 w03"


def test_schema_lists_matched_values_first_deduplicated_at_most_6(shop_db):
    text = schema_text(shop_db, 2, {"customers.city": ["Paris", "Oslo"], "customers.name": list("abcdefgh")})
    assert "    city TEXT, -- example: ['Paris', 'Oslo', 'London']" in text
    assert "    name TEXT, -- example: ['a', 'b', 'c', 'd', 'e', 'f']" in text
    assert "    `group` TEXT, -- example: ['gold', 'silver']" in text


def test_prompt_builder_has_one_switch(people_db, tiny_tokenizer):
    ex = Example(id="q", db_id="people", db_path=str(people_db), question="Who lives in Maida Vale?", sql="")
    on = prompt_text(ex, tiny_tokenizer, value_retrieval=True)
    off = prompt_text(ex, tiny_tokenizer, value_retrieval=False)
    assert "'Maida Vale'" in on and "'Maida Vale'" not in off
    assert DataConfig().value_retrieval is True  # OmniSQL/Arctic built training and eval prompts with it
    flipped = RunConfig()
    flipped.data.value_retrieval = False
    assert flipped.fingerprint() != RunConfig().fingerprint()  # it changes what training sees
    # a run made before the setting existed (no key) has the prompts of `false`, and resumes with it
    old = RunConfig().to_dict()
    del old["data"]["value_retrieval"]
    assert training_math(old) == training_math(flipped.to_dict())


def test_index_is_cached_by_content_and_rebuilt_when_the_file_changes(people_db, monkeypatch):
    # content no other test has, so no index exists yet
    change_db(people_db, "INSERT INTO people VALUES (7, ?, 'Oslo', '0', NULL)", str(people_db))
    builds = []
    real_build = retrieval.build_index
    monkeypatch.setattr(retrieval, "build_index", lambda *a, **k: builds.append(a) or real_build(*a, **k))
    first = index_dir(people_db)
    matched_values(people_db, "Grace Hopper", progress=False)
    matched_values(people_db, "Alan Turing", progress=False)
    assert len(builds) == 1 and json.loads((first / "meta.json").read_text())["values"] == 14
    # a copy with the same bytes shares the index
    copy = people_db.parent / "copy.sqlite"
    copy.write_bytes(people_db.read_bytes())
    assert index_dir(copy) == first
    change_db(people_db, "INSERT INTO people VALUES (6, 'Barbara Liskov', 'Los Angeles', '1939', NULL)")
    assert index_dir(people_db) != first
    assert matched_values(people_db, "Who is Barbara Liskov?", progress=False) == {"people.name": ["Barbara Liskov"]}
    assert len(builds) == 2


def test_building_streams_values_with_bounded_memory(tmp_path):
    """300k rows x 2 text columns (600k cells, ~20 MB as Python objects) but 60 distinct values."""
    db = tmp_path / "big.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE events (kind TEXT, place TEXT, n INTEGER)")
    conn.executemany("INSERT INTO events VALUES (?, ?, ?)",
                     ((f"kind {i % 30}", f"place {i % 30} north", i) for i in range(300_000)))
    conn.commit()
    conn.close()
    tracemalloc.start()
    try:
        meta = retrieval.build_index(db, tmp_path / "index", progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert meta["values"] == 60
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MiB while indexing 60 distinct values"


def test_unreadable_file_is_a_clear_error(tmp_path):
    from kaggle_t2sql.errors import DataError

    bad = tmp_path / "bad.sqlite"
    bad.write_text("not a database")
    with pytest.raises(DataError, match="is it a SQLite file"):
        matched_values(bad, "anything", progress=False)


@needs_bird
def test_bird_fixture_gold_value_is_retrieved():
    from kaggle_t2sql.data.readers import read_bird

    ex = next(e for e in read_bird(str(BIRD), "dev") if "'Illinois'" in e.sql)
    assert "Illinois" in matched_values(ex.db_path, ex.question, progress=False).get("zip_code.state", [])


@needs_spider
def test_spider_fixture_gold_value_is_retrieved():
    from kaggle_t2sql.data.readers import read_spider

    ex = next(e for e in read_spider(str(SPIDER), "dev") if "'France'" in e.sql)
    assert "'France'" in schema_text(ex.db_path, 2, matched_values(ex.db_path, ex.question, progress=False))


def test_analysis_is_pyserinis_default_english_analyzer():
    """Words, possessive 's dropped, lower case, Lucene's 33 stopwords out, Porter stems."""
    assert retrieval.bm25_tokens("The Cities of Rocky Mountains and O'Brien's running shoes") == [
        "citi", "rocki", "mountain", "o'brien", "run", "shoe"]
    assert retrieval.bm25_tokens("City mountain shoe") == ["citi", "mountain", "shoe"]  # same stems as inflected
    assert len(retrieval.LUCENE_STOPWORDS) == 33 and "which" not in retrieval.LUCENE_STOPWORDS


def test_index_uses_pyserinis_bm25_parameters(people_db):
    index = open_index(people_db, progress=False)
    assert (index._bm25.k1, index._bm25.b, index._bm25.method) == (0.9, 0.4, "lucene")


def test_inflected_question_word_finds_the_value(tmp_path):
    db = make_db(tmp_path / "peaks" / "peaks.sqlite", "CREATE TABLE peaks (name TEXT, range_name TEXT);"
                 "INSERT INTO peaks VALUES ('Everest', 'Himalayas'), ('Denali', 'Mountains'), ('Elbrus', 'Caucasus');")
    # "mountain" stems like "Mountains": BM25 hits it; 8 of its 9 characters are in the question (> 0.85)
    assert matched_values(db, "Which peak lies in a mountain range?", progress=False) == {"peaks.range_name": ["Mountains"]}


def test_question_tokens_follow_nltk_word_tokenize():
    assert retrieval.word_tokens("What's O'Brien's city? List cities, e.g. Paris.") == [
        "What", "'s", "O'Brien", "'s", "city", "?", "List", "cities", ",", "e.g", ".", "Paris", "."]
    queries = question_queries("Don't stop.")
    assert queries[:4] == ["Do", "n't", "stop", "."] and queries[-1] == "Don't stop."


@needs_spider
def test_filter_and_order_are_the_anchors_on_the_same_hits():
    """Given the same BM25 hits, the kept values and their order are OmniSQL's
    retrieve_question_related_db_values (tests/data/omnisql_anchor.py): (score, length, index) descending."""
    import omnisql_anchor as anchor

    from kaggle_t2sql.data.readers import read_spider

    examples = read_spider(SPIDER, "dev")[::25]
    compared = 0
    for ex in examples:
        index = open_index(ex.db_path, progress=False)
        hits = [index.value(d) for d in index.search(question_queries(ex.question))]
        anchor_hits = [{"id": f"{t}-**-{c}-**-{i}", "contents": v} for i, (t, c, v) in enumerate(hits)]
        expected = anchor.retrieve_question_related_db_values(anchor_hits, ex.question)
        assert matched_values(ex.db_path, ex.question, progress=False) == expected, ex.question
        compared += bool(expected)
    assert compared >= 5


def test_ties_go_to_the_later_hit_as_in_the_anchor(tmp_path):
    import omnisql_anchor as anchor

    db = make_db(tmp_path / "trips" / "trips.sqlite", "CREATE TABLE trips (origin TEXT, destination TEXT);"
                 "INSERT INTO trips VALUES ('London', 'Berlin'), ('Madrid', 'Athens');")
    question = "Trips from London to Berlin"
    index = open_index(db, progress=False)
    hits = [index.value(d) for d in index.search(question_queries(question))]
    assert [v for _, _, v in hits] == ["London", "Berlin"]  # the 1-grams, in question order
    expected = anchor.retrieve_question_related_db_values(
        [{"id": f"{t}-**-{c}-**-{i}", "contents": v} for i, (t, c, v) in enumerate(hits)], question)
    assert [m.value for m in index.match(question)] == ["Berlin", "London"]  # equal coverage and length
    assert matched_values(db, question, progress=False) == expected == {
        "trips.destination": ["Berlin"], "trips.origin": ["London"]}
