"""Traffic policies in SQL: how ``assay serve`` shares a registered model's requests
between its versions. Every change is a row of ``traffic_policies`` (so the table is the
history) and an audit record; the model's policy is its latest row."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from typing import Any

import msgspec
import sqlalchemy as sa

from assay.errors import InvalidInput, NotFound
from assay.records import TrafficPolicy
from assay.store.sql import audit, registry
from assay.store.sql.schema import registered_models, traffic_policies
from assay.store.sql.tx import Tx
from assay.values import check_alias, check_text

MAX_ARMS = 16
_VERSION = re.compile(r"^v?([0-9]{1,9})$")
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")
_FIELD = re.compile(r"^[^\x00-\x1f]{1,128}$")


def set_traffic(
    tx: Tx,
    name: str,
    split: dict[str, float] | None,
    *,
    sticky: str | None,
    shadow: dict[str, float] | None,
    reason: str | None,
) -> TrafficPolicy:
    """Set (``split`` None or empty: clear) the policy of model ``name`` and record it."""
    conn, actor = tx.conn, tx.actor
    registry.model(conn, name)
    check_text("reason", reason, limit=10_000)
    if not split:
        if shadow or sticky:
            raise InvalidInput("a policy needs a split: give the arms' weights with the shadow")
        found = current(conn, name)
        if found is None or not found.active:
            raise NotFound(f"model {name!r} has no traffic policy")
        chosen: dict[str, float] = {}
        mirrored: dict[str, float] = {}
        key = None
    else:
        chosen = weights(split)
        mirrored = _shadow(shadow or {}, chosen)
        key = check_sticky(sticky)
        for arm in (*chosen, *mirrored):
            _resolves(conn, name, arm)
    policy = TrafficPolicy(
        model=name,
        split=ordered(chosen),
        sticky=key,
        shadow=ordered(mirrored),
        actor=actor[:128],
        reason=reason,
        at=time.time(),
    )
    conn.execute(traffic_policies.insert(), [msgspec.structs.asdict(policy)])
    conn.execute(
        registered_models.update()
        .where(registered_models.c.name == name)
        .values(updated_at=policy.at)
    )
    action = "model.traffic_set" if chosen else "model.traffic_cleared"
    change = {"split": chosen, "sticky": key, "shadow": mirrored, "reason": reason}
    audit.append(conn, actor, action, f"model:{name}", change)
    return policy


def ordered(shares: dict[str, float]) -> dict[str, float]:
    """Largest share first, then by name: the same order on every backend (PostgreSQL's
    JSONB keeps no order of its own), so every server hashes keys onto the same arms."""
    return dict(sorted(shares.items(), key=lambda kv: (-kv[1], kv[0])))


def arm_of(arm: object) -> str:
    """An arm as stored: a version number without its ``v`` (``"3"``), or an alias."""
    if not isinstance(arm, str):
        raise InvalidInput(f"traffic arm {arm!r} must be an alias or a version number")
    found = _VERSION.match(arm)
    if found:
        return str(int(found[1]))
    return check_alias(arm, user=False)


def _number(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{what} must be a number (a percentage), got {value!r}")
    return float(value)


def weights(split: Any, arm_of: Callable[[object], str] = arm_of) -> dict[str, float]:
    """A split checked: arm (as ``arm_of`` reads it) to a percentage, adding up to 100.
    Prompt labels' splits (store/sql/prompts.py) are checked here too."""
    if not isinstance(split, dict):
        raise InvalidInput("the split must map arms (aliases or versions) to percentages")
    if len(split) > MAX_ARMS:
        raise InvalidInput(f"a split has at most {MAX_ARMS} arms, got {len(split)}")
    weights: dict[str, float] = {}
    for raw, value in split.items():
        arm = arm_of(raw)
        weight = _number(f"the weight of arm {raw!r}", value)
        if weight < 0 or weight > 100:
            raise InvalidInput(
                f"the weight of arm {raw!r} is {value}: weights are percentages from 0 to 100"
            )
        if arm in weights:
            raise InvalidInput(f"arm {raw!r} is given twice")
        weights[arm] = weight
    total = sum(weights.values())
    if abs(total - 100) > 1e-6:
        shown = ", ".join(f"{a} {w:g}" for a, w in weights.items())
        raise InvalidInput(f"the weights add up to {total:g}, not 100 ({shown})")
    return weights


def _shadow(shadow: Any, split: dict[str, float]) -> dict[str, float]:
    if not isinstance(shadow, dict):
        raise InvalidInput("shadow must map arms (aliases or versions) to percentages")
    if len(shadow) > MAX_ARMS:
        raise InvalidInput(f"at most {MAX_ARMS} shadow arms, got {len(shadow)}")
    mirrored: dict[str, float] = {}
    for raw, value in shadow.items():
        arm = arm_of(raw)
        share = _number(f"the shadow share of arm {raw!r}", value)
        if share <= 0 or share > 100:
            raise InvalidInput(
                f"the shadow share of arm {raw!r} is {value}: "
                "a percentage of requests above 0 and at most 100"
            )
        if arm in split:
            raise InvalidInput(
                f"arm {raw!r} is in the split and in the shadow: a shadow arm gets copies of "
                "requests another arm answers, so name it in one of them"
            )
        mirrored[arm] = share
    return mirrored


def check_sticky(sticky: object) -> str | None:
    """None, ``header:<name>`` (lower-cased) or ``input:<name>``."""
    if sticky is None:
        return None
    kind, _, key = sticky.partition(":") if isinstance(sticky, str) else ("", "", "")
    if kind == "header" and _HEADER.match(key):
        return f"header:{key.lower()}"
    if kind == "input" and _FIELD.match(key):
        return f"input:{key}"
    raise InvalidInput(
        f"sticky {sticky!r} must be header:<name> (say header:x-user-id) or input:<name> "
        "(an input field, say input:user_id)"
    )


def _resolves(conn: sa.Connection, name: str, arm: str) -> None:
    try:
        registry.version_of(conn, name, arm)
    except NotFound:
        kind = "version" if arm.isdigit() else "alias"
        raise InvalidInput(f"traffic arm {arm!r}: model {name!r} has no {kind} {arm!r}") from None


# ---- reads ---------------------------------------------------------------------------------


def current(conn: sa.Connection, name: str) -> TrafficPolicy | None:
    """The model's policy now (None: never set, or cleared)."""
    registry.model(conn, name)
    row = conn.execute(
        sa.select(traffic_policies)
        .where(traffic_policies.c.model == name)
        .order_by(traffic_policies.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    policy = _policy(row)
    return policy if policy.active else None


def history(conn: sa.Connection, name: str) -> list[TrafficPolicy]:
    """Every change, newest first (a cleared policy has an empty split)."""
    registry.model(conn, name)
    rows = conn.execute(
        sa.select(traffic_policies)
        .where(traffic_policies.c.model == name)
        .order_by(traffic_policies.c.id.desc())
    ).all()
    return [_policy(r) for r in rows]


def _policy(row: sa.Row[Any]) -> TrafficPolicy:
    return TrafficPolicy(
        model=row.model,
        split=ordered({str(k): float(v) for k, v in (row.split or {}).items()}),
        sticky=row.sticky,
        shadow=ordered({str(k): float(v) for k, v in (row.shadow or {}).items()}),
        actor=row.actor,
        reason=row.reason,
        at=row.at,
    )
