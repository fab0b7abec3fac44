"""WSO2 API Manager 3.x's default API lifecycle (APILifeCycle.xml), as a transition table.

State -> {action: next state}. Actions are matched case-insensitively and answered in WSO2's
spelling. RETIRED is terminal; a DEPRECATED API can only be retired, as in WSO2.
"""

from __future__ import annotations

from tollway.errors import BadRequest, Conflict

CREATED, PROTOTYPED, PUBLISHED = "CREATED", "PROTOTYPED", "PUBLISHED"
BLOCKED, DEPRECATED, RETIRED = "BLOCKED", "DEPRECATED", "RETIRED"

PUBLISH = "Publish"
PROTOTYPE = "Deploy as a Prototype"
DEMOTE = "Demote to Created"
BLOCK = "Block"
DEPRECATE = "Deprecate"
REPUBLISH = "Re-Publish"
RETIRE = "Retire"
ACTIONS = (PUBLISH, PROTOTYPE, DEMOTE, BLOCK, DEPRECATE, REPUBLISH, RETIRE)

TRANSITIONS: dict[str, dict[str, str]] = {
    CREATED: {PUBLISH: PUBLISHED, PROTOTYPE: PROTOTYPED},
    PROTOTYPED: {PUBLISH: PUBLISHED, PROTOTYPE: PROTOTYPED, DEMOTE: CREATED},
    PUBLISHED: {
        BLOCK: BLOCKED,
        PROTOTYPE: PROTOTYPED,
        DEMOTE: CREATED,
        DEPRECATE: DEPRECATED,
        PUBLISH: PUBLISHED,
    },
    BLOCKED: {DEPRECATE: DEPRECATED, REPUBLISH: PUBLISHED},
    DEPRECATED: {RETIRE: RETIRED},
    RETIRED: {},
}

# States the developer portal lists, and those it still shows by id (subscribers of a deprecated
# API keep seeing it). Only PUBLISHED APIs take new subscriptions.
LISTED_STATES = (PUBLISHED, PROTOTYPED)
VISIBLE_STATES = (PUBLISHED, PROTOTYPED, DEPRECATED)
# States in which the gateway serves the API: it must keep a plan and a production endpoint.
SERVED_STATES = (PUBLISHED, DEPRECATED)


def parse_action(text: str) -> str:
    wanted = " ".join(text.split()).lower()
    for action in ACTIONS:
        if action.lower() == wanted:
            return action
    raise BadRequest(f"'action': unknown lifecycle action {text!r}; actions: {', '.join(ACTIONS)}")


def next_state(state: str, action: str) -> str:
    allowed = TRANSITIONS.get(state, {})
    if action not in allowed:
        possible = ", ".join(allowed) or "none (the API is retired)"
        raise Conflict(f"'action': {action!r} is not allowed for a {state} API; allowed actions: {possible}")
    return allowed[action]
