import json

from conftest import SPIDER, needs_spider

from kaggle_t2sql.data.examples import Example
from kaggle_t2sql.data.prompts import build_messages, extract_sql, render_prompt, training_target

# Verbatim from Snowflake ArcticTraining projects/arctic_text2sql_r1/bird_eval/infer.py (user message, .strip()ped).
ARCTIC_USER = """Database Engine:
SQLite

Database Schema:
CREATE TABLE t (
    a INTEGER
);
This schema describes the database's structure, including tables, columns, primary keys, foreign keys, and any relevant relationships or constraints.

Question:
high means a > 1
Which rows are high?

Instructions:
- Make sure you only output the information that is asked in the question. If the question asks for a specific column, make sure to only include that column in the SELECT clause, nothing more.
- The generated query should return all of the information asked in the question without any missing or extra information.
- Before generating the final SQL query, please think through the steps of how to write the query.

Output Format:
Please provide a detailed chain-of-thought reasoning process and include your thought process within `<think>` tags. Your final answer should be enclosed within `<answer>` tags.

Ensure that your SQL query follows the correct syntax and is formatted as follows:

```sql
-- Your SQL query here
```

Example format:
<think> Step-by-step reasoning, including self-reflection and corrections if necessary. [Limited by 4K tokens] </think>
<answer> Summary of the thought process leading to the final SQL query. [Limited by 1K tokens]

```sql
Correct SQL query here
```
</answer>"""

ARCTIC_SYSTEM = (
    "You are a data science expert. Below, you are provided with a database schema and a natural language question. "
    "Your task is to understand the schema and generate a valid SQL query to answer the question."
)

# Verbatim from OmniSQL's input_prompt_template (process_dataset.py).
OMNISQL_USER = """Task Overview:
You are a data science expert. Below, you are provided with a database schema and a natural language question. Your task is to understand the schema and generate a valid SQL query to answer the question.

Database Engine:
SQLite

Database Schema:
CREATE TABLE t (
    a INTEGER
);
This schema describes the database's structure, including tables, columns, primary keys, foreign keys, and any relevant relationships or constraints.

Question:
Which rows are high?

Instructions:
- Make sure you only output the information that is asked in the question. If the question asks for a specific column, make sure to only include that column in the SELECT clause, nothing more.
- The generated query should return all of the information asked in the question without any missing or extra information.
- Before generating the final SQL query, please think through the steps of how to write the query.

Output Format:
In your answer, please enclose the generated SQL query in a code block:
```sql
-- Your SQL query
```

Take a deep breath and think step by step to find the correct SQL query.
"""

SCHEMA = "CREATE TABLE t (\n    a INTEGER\n);"


def test_arctic_messages_are_verbatim_with_evidence_first():
    messages = build_messages(SCHEMA, "Which rows are high?", "high means a > 1", style="arctic")
    assert messages == [{"role": "system", "content": ARCTIC_SYSTEM}, {"role": "user", "content": ARCTIC_USER}]


def test_omnisql_message_is_verbatim_and_blank_evidence_is_ignored():
    assert build_messages(SCHEMA, "Which rows are high?", "  ", style="omnisql") == [{"role": "user", "content": OMNISQL_USER}]


def test_chatml_rendering_through_the_tokenizer_template(tiny_tokenizer):
    prompt = render_prompt(tiny_tokenizer, build_messages(SCHEMA, "Which rows are high?", "high means a > 1"))
    assert prompt == (
        f"<|im_start|>system\n{ARCTIC_SYSTEM}<|im_end|>\n<|im_start|>user\n{ARCTIC_USER}<|im_end|>\n"
        "<|im_start|>assistant\nLet me solve this step by step. \n<think>"
    )


def test_training_target_uses_cot_else_a_short_sql_answer():
    base = dict(id="1", db_id="d", db_path="x", question="q", sql="SELECT 1;  ")
    assert training_target(Example(**base), "arctic") == "\n</think>\n<answer>\n```sql\nSELECT 1;\n```\n</answer>"
    assert training_target(Example(**base, cot="think hard"), "arctic") == (
        "\nthink hard\n</think>\n<answer>\n```sql\nSELECT 1;\n```\n</answer>")
    assert training_target(Example(**base), "omnisql") == "```sql\nSELECT 1;\n```"
    assert training_target(Example(**base, cot="cot text"), "omnisql") == "cot text"
    assert extract_sql(training_target(Example(**base, cot="```sql\nSELECT 0\n```"), "arctic")) == "SELECT 1;"


def test_extract_sql_takes_the_last_block():
    text = "<think>try ```sql\nSELECT a FROM t\n``` no</think>\n<answer>```sql\n  SELECT b\nFROM t;\n```</answer>"
    assert extract_sql(text) == "SELECT b\nFROM t;"
    assert extract_sql("no code here") == ""
    assert extract_sql("```python\nprint(1)\n```") == ""
    assert extract_sql("```sql SELECT 1```") == "SELECT 1"


@needs_spider
def test_prompts_command_gives_the_anchors_db_details_and_prompt_on_spider(tmp_path, tiny_tokenizer):
    """`kaggle-t2sql prompts --data spider --values off`: every question's db_details is what OmniSQL's
    process_dataset.py builds in dev mode from the same tables.json and database, and the prompt is what
    Arctic's infer.py makes of it (tests/data/omnisql_anchor.py holds both, copied verbatim)."""
    import omnisql_anchor as anchor

    from kaggle_t2sql.cli import main

    out = tmp_path / "prompts.jsonl"
    assert main(["prompts", "--data", "spider", "--data-path", str(SPIDER), "--values", "off", "--out", str(out),
                 "--no-progress"]) == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    questions = json.loads((SPIDER / "dev.json").read_text(encoding="utf-8"))
    assert len(records) == len(questions) == 972
    entries = {e["db_id"]: e for e in json.loads((SPIDER / "tables.json").read_text(encoding="utf-8"))}
    details: dict[str, str] = {}
    same_details = same_prompt = 0
    for record, item in zip(records, questions):
        db_id = item["db_id"]
        if db_id not in details:
            entry = entries[db_id]
            db = SPIDER / "database" / db_id / f"{db_id}.sqlite"
            sampled = anchor.sample_table_values(str(db), entry["table_names_original"], 2)
            details[db_id] = anchor.obtain_db_details(entry, "spider", sampled, {}, item["query"], "dev", item["question"])
        same_details += record["schema"] == details[db_id]
        (expected,) = anchor.arctic_chat_prompts([{"db_desc": details[db_id], "question": item["question"]}], tiny_tokenizer)
        same_prompt += record["prompt"] == expected
    assert same_details / len(records) >= 0.99 and same_details == len(records)
    assert same_prompt == len(records)
