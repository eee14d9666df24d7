"""Prompts exactly as Arctic-Text2SQL-R1 (and OmniSQL) were trained and evaluated with.

Texts follow Snowflake ArcticTraining `projects/arctic_text2sql_r1/bird_eval/infer.py`
(style "arctic": system + user message, then the assistant turn opened with
"Let me solve this step by step. \\n<think>") and OmniSQL's
`train_and_evaluate/process_dataset.py` (style "omnisql": one user message that
starts with "Task Overview:"). External knowledge is prepended to the question.
"""

from __future__ import annotations

import re

from .examples import Example

SYSTEM_PROMPT = (
    "You are a data science expert. Below, you are provided with a database schema and a natural"
    " language question. Your task is to understand the schema and generate a valid SQL query to"
    " answer the question."
)

SCHEMA_NOTE = (
    "This schema describes the database's structure, including tables, columns, primary keys, foreign keys,"
    " and any relevant relationships or constraints."
)

INSTRUCTIONS = """Instructions:
- Make sure you only output the information that is asked in the question. If the question asks for a specific column, make sure to only include that column in the SELECT clause, nothing more.
- The generated query should return all of the information asked in the question without any missing or extra information.
- Before generating the final SQL query, please think through the steps of how to write the query."""

ARCTIC_OUTPUT_FORMAT = """Please provide a detailed chain-of-thought reasoning process and include your thought process within `<think>` tags. Your final answer should be enclosed within `<answer>` tags.

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

ARCTIC_ASSISTANT_PREFIX = "Let me solve this step by step. \n<think>"

OMNISQL_OUTPUT_FORMAT = """In your answer, please enclose the generated SQL query in a code block:
```sql
-- Your SQL query
```

Take a deep breath and think step by step to find the correct SQL query.
"""

_SQL_BLOCK = re.compile(r"```sql\s*(.*?)\s*```", re.DOTALL)


def question_with_evidence(question: str, external_knowledge: str = "") -> str:
    """BIRD evidence / SynSQL external knowledge goes first, on its own line."""
    return f"{external_knowledge}\n{question}" if external_knowledge.strip() else question


def user_text(db_details: str, question: str, style: str = "arctic") -> str:
    body = (
        f"Database Engine:\nSQLite\n\nDatabase Schema:\n{db_details}\n{SCHEMA_NOTE}\n\n"
        f"Question:\n{question}\n\n{INSTRUCTIONS}\n\nOutput Format:\n"
    )
    if style == "arctic":
        return body + ARCTIC_OUTPUT_FORMAT
    if style == "omnisql":
        return f"Task Overview:\n{SYSTEM_PROMPT}\n\n" + body + OMNISQL_OUTPUT_FORMAT
    raise ValueError(f"unknown prompt style {style!r}: use 'arctic' or 'omnisql'")


def build_messages(db_details: str, question: str, external_knowledge: str = "", style: str = "arctic") -> list[dict]:
    text = user_text(db_details, question_with_evidence(question, external_knowledge), style)
    if style == "arctic":
        return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}]
    return [{"role": "user", "content": text}]


def assistant_prefix(style: str) -> str:
    """What the assistant turn starts with before the model writes (part of the prompt)."""
    return ARCTIC_ASSISTANT_PREFIX if style == "arctic" else ""


def render_prompt(tokenizer, messages: list[dict], style: str = "arctic") -> str:
    """ChatML text through the tokenizer's own chat template, ready for generation."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return text + assistant_prefix(style)


def training_target(example: Example, style: str = "arctic") -> str:
    """What the model learns to write after the prompt: the CoT when there is one, else a short SQL answer."""
    sql_block = f"```sql\n{example.sql.strip()}\n```"
    if style == "arctic":
        thought = f"\n{example.cot.strip()}\n" if example.cot.strip() else "\n"
        return f"{thought}</think>\n<answer>\n{sql_block}\n</answer>"
    return example.cot.strip() if example.cot.strip() else sql_block


def extract_sql(text: str) -> str:
    """The last ```sql ... ``` block, stripped; "" when there is none (as Arctic's parse_response)."""
    blocks = _SQL_BLOCK.findall(text)
    return blocks[-1].strip() if blocks else ""
