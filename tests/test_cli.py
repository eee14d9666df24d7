import subprocess
import sys

import yaml

from kaggle_t2sql.cli import main


def test_config_prints_yaml_with_overrides(capsys):
    assert main(["config", "--preset", "arctic-7b-t4", "--set", "lora.r=8"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["lora"]["r"] == 8 and cfg["preset"] == "arctic-7b-t4"


def test_bad_preset_and_key_exit_2_with_one_clear_line(capsys):
    assert main(["config", "--preset", "nope"]) == 2
    assert capsys.readouterr().err.strip() == "error: unknown preset 'nope': choose one of arctic-7b-t4, demo, tiny"
    assert main(["config", "--preset", "tiny", "--set", "training.lr=1"]) == 2
    assert "unknown key 'training.lr'" in capsys.readouterr().err


def test_schema_command(shop_db, capsys):
    assert main(["schema", str(shop_db), "--value-limit", "0"]) == 0
    assert capsys.readouterr().out.startswith("CREATE TABLE customers (\n    id INTEGER,\n")


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "kaggle_t2sql", "config", "--preset", "tiny"], capture_output=True, text=True)
    assert out.returncode == 0 and "name_or_path: tiny" in out.stdout
