def handler(event, context): return event
def create(event, context): return {}
