"""`.env.example` lists exactly the variables that the settings read."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
LISTED = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
# Listed in .env.example but read outside the settings.
READ_ELSEWHERE = {
    "AWS_ACCESS_KEY_ID": "boto3, for the S3 storage backend",
    "AWS_SECRET_ACCESS_KEY": "boto3, for the S3 storage backend",
    "DEMO_PASSWORD": "scripts/run, for the demo researcher",
}


def variables_read_by_settings() -> set[str]:
    """The first argument of every env(...), env.int(...), env.bool(...) ... call in the settings."""
    names = set()
    for path in (ROOT / "config" / "settings").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            is_env = (isinstance(func, ast.Name) and func.id == "env") or (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "env"
            )
            first = node.args[0]
            if is_env and isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
    return names


def test_env_example_lists_every_variable_the_settings_read_and_no_other() -> None:
    read = variables_read_by_settings()
    listed = set(LISTED.findall((ROOT / ".env.example").read_text()))

    assert len(read) > 40, "the settings parser found too few env(...) calls"
    assert sorted(read - listed) == [], "read by the settings but missing from .env.example"
    assert sorted(listed - read - set(READ_ELSEWHERE)) == [], "listed in .env.example but read by no setting"
