"""``settings.json``: every key it may hold is known; anything else is refused in one line
naming the key, and the mesh does not start with a setting silently left at its default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakemesh.errors import StoreError
from lakemesh.home import Settings, load_settings
from tests.conftest import Cli


def _edit(home: Path, change: dict[str, object] | str) -> None:
    path = home / "settings.json"
    if isinstance(change, str):
        path.write_text(change)
        return
    data = json.loads(path.read_text())
    for dotted, value in change.items():
        *parents, key = dotted.split(".")
        node = data
        for p in parents:
            node = node.setdefault(p, {})
        node[key] = value
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"api.rate_limits": "1/second"}, "unknown setting 'api.rate_limits'"),
        ({"workflow.base_ulr": "http://x"}, "unknown setting 'workflow.base_ulr'"),
        ({"colour": "blue"}, "unknown setting 'colour'"),
        ({"api.max_body_bytes": 5}, "api.max_body_bytes: Input should be greater than"),
        ({"events.webhook_timeout_seconds": 60}, "events.webhook_timeout_seconds: Input should"),
        ("{not json", "not valid JSON"),
    ],
)
def test_a_bad_setting_is_refused_by_name(
    cli: Cli, change: dict[str, object] | str, message: str
) -> None:
    assert cli("init")[0] == 0
    _edit(cli.home, change)
    with pytest.raises(StoreError, match="are invalid: " + message.replace("(", r"\(")):
        load_settings(cli.home)
    code, out, err = cli("domain", "list")
    assert code == 1 and out == "" and err.count("\n") == 1 and message in err


def test_every_section_refuses_unknown_keys() -> None:
    sections = [Settings] + [
        f.annotation for f in Settings.model_fields.values() if isinstance(f.annotation, type)
    ]
    for section in sections:
        assert section.model_config.get("extra") == "forbid", section


def test_the_embedded_store_is_owner_only(cli: Cli) -> None:
    """The SQLite file holds token hashes and the audit log: 0600 like the keys, and so
    are the WAL files SQLite makes beside it."""
    assert cli("init")[0] == 0
    assert cli("user", "list")[0] == 0
    for name in ("lakemesh.db", "lakemesh.db-wal", "lakemesh.db-shm", "settings.json"):
        path = cli.home / name
        if path.exists():
            assert path.stat().st_mode & 0o777 == 0o600, name
    assert (cli.home / "lakemesh.db").exists()
