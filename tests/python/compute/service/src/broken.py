"""Fails at import time: the runtime must report an init error."""

raise RuntimeError("cannot start: broken on purpose")


def handler(event, context):
    return "unreachable"
