"""Database values that match the question, for the schema's column comments.

The recipe of OmniSQL's `train_and_evaluate/process_dataset.py` + `build_contents_index.py`,
which Arctic-Text2SQL-R1 reuses (ArcticTraining `projects/arctic_text2sql_r1/
data_preprocessing/`) for training and evaluation data alike:

- index: a BM25 index over every distinct, non-empty, non-numeric string of at most 40
  characters in each column of the database;
- queries: the question's word n-grams of length 1..8, plus the whole question (evidence
  first, as in the prompt), top 10 hits each;
- filter: a hit is kept when the longest common substring of the value and the question
  (case-insensitive) covers more than 0.85 of the value; the best 20 (by that coverage,
  then length) are kept and go to the comment of the column they come from, before the
  sampled examples.

OmniSQL searched a Lucene index (pyserini's defaults); here BM25 is `bm25s` with Lucene's
scoring and pyserini's parameters (k1 0.9, b 0.4) over the same analysis as pyserini's
DefaultEnglishAnalyzer: words, possessive 's dropped, lower case, Lucene's 33 English
stopwords, Porter stems. The question's n-grams come from nltk's word tokenizer and `ngrams`
as in OmniSQL (`word_tokenize` without punkt's sentence model, which needs a download: the
text is split into sentences at `.`/`!`/`?` followed by white space instead). Hits are
ranked as OmniSQL does: (coverage, length, hit order) descending. The longest common
substring is the standard library's `difflib`. The index is built once per database file,
keyed by the file's sha256, and kept on disk under the cache folder; a changed file gets a
new index. Values are read column by column with a cursor, so memory follows the index, never the
table sizes.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import sqlite3
import threading
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .. import atomic
from .bundled import cache_root
from ..errors import DataError
from .schema import open_readonly

MAX_VALUE_CHARS = 40
MAX_NGRAM = 8
TOP_K = 10
MIN_COVERAGE = 0.85
MAX_VALUES = 20
INDEX_FORMAT = 2  # bump when the index layout or what goes into it changes
BM25_K1, BM25_B = 0.9, 0.4  # pyserini's LuceneSearcher defaults
FETCH_ROWS = 2_000

# Lucene's StandardTokenizer keeps a word's inner apostrophes and dots/commas between digits.
_WORD = re.compile(r"\w+(?:['’]\w+)*(?:[.,]\d+)*")
_POSSESSIVE = re.compile(r"['’][sS]$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET, pyserini's default stopwords.
LUCENE_STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these they "
    "this to was will with".split())


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem.porter import PorterStemmer

    return PorterStemmer(mode=PorterStemmer.MARTIN_EXTENSIONS)  # Porter's own version, as Lucene's PorterStemFilter


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer().stem(word, to_lowercase=False)


def bm25_tokens(text: str) -> list[str]:
    """pyserini's DefaultEnglishAnalyzer, closely: words, possessive 's dropped, lower case, stopwords out,
    Porter stems. The same for values and queries."""
    words = (_POSSESSIVE.sub("", w).lower() for w in _WORD.findall(text))
    # digits and words of 1-2 letters come out of Porter's stemmer unchanged: skip the call (and its cache)
    return [w if len(w) <= 2 or w.isdigit() else _stem(w) for w in words if w and w not in LUCENE_STOPWORDS]


def word_tokens(text: str) -> list[str]:
    """nltk's word_tokenize, with a plain sentence split in place of punkt's downloaded model."""
    from nltk.tokenize import word_tokenize

    return [t for sentence in _SENTENCE_END.split(text) for t in word_tokenize(sentence, preserve_line=True)]


def is_number(text: str) -> bool:
    """As OmniSQL's `is_number` (float() parses it); such strings are not indexed."""
    try:
        float(text)
        return True
    except ValueError:
        return False


def question_queries(question: str, max_n: int = MAX_NGRAM) -> list[str]:
    """OmniSQL's obtain_n_grams (nltk tokens, n-grams of length 1..max_n), then the whole question;
    duplicates dropped, order kept."""
    from nltk import ngrams

    words = word_tokens(question)
    grams = [" ".join(gram) for n in range(1, max_n + 1) for gram in ngrams(words, n)]
    return list(dict.fromkeys(grams + [question]))


def coverage(value: str, matcher: difflib.SequenceMatcher) -> float:
    """Share of `value` covered by its longest common substring with the question (the matcher's seq2)."""
    a = value.lower()
    if not a:
        return 0.0
    matcher.set_seq1(a)
    return matcher.find_longest_match(0, len(a), 0, len(matcher.b)).size / len(a)


def question_matcher(question: str) -> difflib.SequenceMatcher:
    # autojunk off: it would treat frequent characters of a long question (>= 200 chars) as junk.
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(question.lower())
    return matcher


# ---------------------------------------------------------------- file identity


@lru_cache(maxsize=4096)
def _sha256(path: str, _mtime_ns: int, _size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(db_path: str | Path) -> str:
    """Content hash of a database file, computed once per (path, mtime, size)."""
    path = os.path.abspath(db_path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"database file {path} not found: check db_root / the dataset's database folder") from None
    return _sha256(path, st.st_mtime_ns, st.st_size)


def index_dir(db_path: str | Path) -> Path:
    return cache_root() / "value-index" / f"f{INDEX_FORMAT}-{file_sha256(db_path)[:24]}"


# ---------------------------------------------------------------- building


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    tables = [t for (t,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
    return [(t, row[1]) for t in tables for row in conn.execute(f"PRAGMA table_info({_quoted(t)})")]


def _column_values(conn: sqlite3.Connection, table: str, column: str) -> Iterator[str]:
    """Distinct indexable strings of one column, streamed (SQLite dedups on disk if it must)."""
    c = _quoted(column)
    cur = conn.execute(
        f"SELECT DISTINCT {c} FROM {_quoted(table)} WHERE typeof({c}) = 'text' AND length({c}) BETWEEN 1 AND {MAX_VALUE_CHARS}")
    while rows := cur.fetchmany(FETCH_ROWS):
        for (value,) in rows:
            if value and len(value) <= MAX_VALUE_CHARS and not is_number(value):
                yield value


class _FlatDocs:
    """Token ids of every document in one flat int32 array: re-iterable, as bm25s needs, and compact."""

    def __init__(self, token_ids: array, offsets: array):
        self.token_ids, self.offsets = token_ids, offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __iter__(self) -> Iterator[list[int]]:
        token_ids, offsets = self.token_ids, self.offsets
        for i in range(len(offsets) - 1):
            yield token_ids[offsets[i]:offsets[i + 1]].tolist()


@dataclass
class _Corpus:  # the shape bm25s.BM25.index takes for pre-tokenized documents
    ids: _FlatDocs
    vocab: dict[str, int]


def build_index(db_path: str | Path, target: str | Path, progress: bool = True) -> dict:
    """Build the value index of one database into `target` (written aside, then renamed)."""
    import bm25s

    start = time.perf_counter()
    conn = open_readonly(db_path)
    conn.text_factory = lambda b: b.decode("utf-8", errors="ignore")
    vocab: dict[str, int] = {"": 0}  # id 0: the empty token, scored for documents with no words
    token_ids, token_offsets = array("i"), array("q", [0])
    value_offsets, value_columns = array("q", [0]), array("i")
    try:
        columns = _columns(conn)
        with atomic.staged_dir(target) as tmp, open(tmp / "values.txt", "wb") as values_file:
            for col_index, (table, column) in enumerate(
                    tqdm(columns, desc=f"indexing values of {Path(db_path).name}", unit="col", disable=not progress, delay=2,
                         leave=False)):
                try:
                    values = _column_values(conn, table, column)
                    for value in values:
                        words = bm25_tokens(value) or [""]
                        token_ids.extend(vocab.setdefault(w, len(vocab)) for w in words)
                        token_offsets.append(len(token_ids))
                        data = value.encode("utf-8")
                        values_file.write(data)
                        value_offsets.append(value_offsets[-1] + len(data))
                        value_columns.append(col_index)
                except sqlite3.DatabaseError:
                    continue  # an unreadable column (e.g. a corrupt page) is skipped, as OmniSQL does
            values_file.flush()
            n_docs = len(value_columns)
            if n_docs:
                retriever = bm25s.BM25(k1=BM25_K1, b=BM25_B, method="lucene")
                retriever.index(_Corpus(_FlatDocs(token_ids, token_offsets), vocab), create_empty_token=False,
                                show_progress=False)
                retriever.save(tmp / "bm25", show_progress=False)
            np.save(tmp / "value_offsets.npy", np.frombuffer(value_offsets, dtype=np.int64))
            np.save(tmp / "value_columns.npy", np.frombuffer(value_columns, dtype=np.int32))
            meta = {"format": INDEX_FORMAT, "sha256": file_sha256(db_path), "columns": columns, "values": n_docs,
                    "vocabulary": len(vocab), "build_seconds": round(time.perf_counter() - start, 3)}
            atomic.write_json(tmp / "meta.json", meta)
    except sqlite3.DatabaseError as exc:
        raise DataError(f"cannot index values of {db_path}: {exc} (is it a SQLite file?)") from None
    finally:
        conn.close()
    return meta


# ---------------------------------------------------------------- searching


@dataclass(frozen=True)
class Match:
    table: str
    column: str
    value: str
    coverage: float


class ValueIndex:
    """A built index, memory-mapped: the BM25 matrix and the values stay on disk until read."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        self.folder = folder
        self.meta = json.loads((folder / "meta.json").read_text())
        self.columns = [tuple(c) for c in self.meta["columns"]]
        self._offsets = np.load(folder / "value_offsets.npy", mmap_mode="r")
        self._value_columns = np.load(folder / "value_columns.npy", mmap_mode="r")
        self._values = open(folder / "values.txt", "rb")  # read with os.pread: safe from many threads
        self._bm25 = None
        if self.meta["values"]:
            import bm25s

            self._bm25 = bm25s.BM25.load(folder / "bm25", mmap=True, show_progress=False, verbosity=0)

    def __len__(self) -> int:
        return int(self.meta["values"])

    def value(self, doc: int) -> tuple[str, str, str]:
        start, end = int(self._offsets[doc]), int(self._offsets[doc + 1])
        table, column = self.columns[int(self._value_columns[doc])]
        return table, column, os.pread(self._values.fileno(), end - start, start).decode("utf-8")

    def search(self, queries: list[str], k: int = TOP_K) -> list[int]:
        """Documents hit by any query (top k each, score > 0), in query then rank order, without repeats."""
        if self._bm25 is None:
            return []
        vocab = self._bm25.vocab_dict
        token_lists = list(dict.fromkeys(
            tuple(vocab[w] for w in bm25_tokens(q) if w in vocab) for q in queries))
        token_lists = [list(t) for t in token_lists if t]
        if not token_lists:
            return []
        hits: list[int] = []
        for tokens in token_lists:
            scores = self._bm25.get_scores(tokens)
            found = np.flatnonzero(scores > 0)
            # Lucene's order: score descending, then document id (a full sort of the few matching documents;
            # numpy's argpartition is pathologically slow on the mostly-zero score arrays)
            ranked = found[np.lexsort((found, -scores[found]))][:k]
            hits.extend(int(d) for d in ranked)
        return list(dict.fromkeys(hits))

    def match(self, question: str) -> list[Match]:
        """OmniSQL's kept values for a question: coverage > 0.85, the best 20 by (coverage, length, hit order)
        in descending order, as its retrieve_question_related_db_values sorts them (later hits win ties)."""
        matcher = question_matcher(question)
        scored = []
        for order, doc in enumerate(self.search(question_queries(question))):
            table, column, value = self.value(doc)
            score = coverage(value, matcher)
            if score > MIN_COVERAGE:
                scored.append((score, len(value), order, Match(table, column, value, score)))
        scored.sort(key=lambda item: item[:3], reverse=True)
        return [item[3] for item in scored[:MAX_VALUES]]


@lru_cache(maxsize=64)
def _open(folder: str) -> ValueIndex:
    return ValueIndex(folder)


_building = threading.Lock()


def open_index(db_path: str | Path, progress: bool = True) -> ValueIndex:
    """The value index of a database file: built on first use, then reused until the file changes."""
    folder = index_dir(db_path)
    if not (folder / "meta.json").is_file():
        with _building:  # one build at a time in this process (e.g. concurrent `serve` requests)
            if not (folder / "meta.json").is_file():
                build_index(db_path, folder, progress=progress)
    return _open(str(folder))


@lru_cache(maxsize=8192)
def _matches(folder: str, question: str) -> tuple[Match, ...]:
    return tuple(_open(folder).match(question))


def matched_values(db_path: str | Path, question: str, progress: bool = True) -> dict[str, list[str]]:
    """Retrieved values per column, keyed `table.column` in lower case (as the schema text looks them up)."""
    open_index(db_path, progress)
    out: dict[str, list[str]] = {}
    for m in _matches(str(index_dir(db_path)), question):
        out.setdefault(f"{m.table}.{m.column}".lower(), []).append(m.value)
    return out
