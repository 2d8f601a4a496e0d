import six


def handler(event, context):
    return {"version": six.__version__, "file": six.__file__}
