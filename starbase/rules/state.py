"""The evaluator's alert state on disk, so a restart neither re-fires nor forgets alerts.

Requires: a writable folder. Guarantees: `save(path, alerts, now)` replaces the file
atomically (write to a temporary file, fsync, rename), so a crash leaves the previous or the
new state, never a torn one; `load(path, now, outage_tolerance_s)` returns each rule's
alerts as saved, keyed by `rule_key` — or nothing when the file is missing, unreadable (logged)
or older than `outage_tolerance_s` (after a long outage, pending time is not trusted: alerts
start again as pending, as Prometheus does past its outage tolerance). Resolved alerts come
back too, with when their resolution was sent, so it is not sent again as new.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from starbase.rules.alerts import Alert
from starbase.rules.model import Group, Rule

log = logging.getLogger("starbase.rules.state")
VERSION = 1


def rule_key(group: Group, index: int, rule: Rule) -> str:
    """A rule's identity across restarts: its file, group, place and name."""
    return json.dumps([group.file, group.name, index, rule.name])


def save(path: Path, alerts: Mapping[str, list[Alert]], now: float) -> None:
    data = {
        "version": VERSION,
        "saved_at": now,
        "rules": {key: [a.to_dict() for a in items] for key, items in alerts.items() if items},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".state-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load(path: Path, now: float, outage_tolerance_s: float) -> dict[str, list[Alert]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring the alert state in %s: %s", path, exc)
        return {}
    try:
        if data.get("version") != VERSION:
            log.warning("ignoring the alert state in %s: version %s", path, data.get("version"))
            return {}
        saved_at = float(data["saved_at"])
        if now - saved_at > outage_tolerance_s:
            log.warning(
                "the alert state in %s is %.0fs old (outage tolerance %.0fs): starting afresh",
                path,
                now - saved_at,
                outage_tolerance_s,
            )
            return {}
        return {
            str(key): [Alert.from_dict(item) for item in items]
            for key, items in data["rules"].items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("ignoring the alert state in %s: malformed (%s)", path, exc)
        return {}
