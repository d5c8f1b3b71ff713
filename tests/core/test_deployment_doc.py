import ast
import re
from pathlib import Path

from django.conf import settings

DEPLOYMENT = Path(settings.BASE_DIR) / "docs" / "deployment.md"


def test_the_beat_table_shown_in_the_deployment_guide_is_the_one_in_the_settings():
    text = DEPLOYMENT.read_text()
    shown = re.search(r"BEAT_TABLE = (\[.*?\n\])", text, re.S)

    assert shown is not None
    assert ast.literal_eval(shown.group(1)) == list(settings.BEAT_TABLE)
    assert "later the JEDI agents" not in text
