"""Runs under awslambdaric, AWS's own runtime interface client."""


def handle(event, context):
    return {"client": "awslambdaric", "event": event, "request_id": context.aws_request_id}
