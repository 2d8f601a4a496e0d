"""Python workers are forked from a warm interpreter (the zygote) that has
imported boto3 once: they are still separate processes in their own process
groups, die with `strata dev` even when it is killed with SIGKILL, and code
that ships its own botocore is started the plain way so its copy wins."""

import json
import os
import time

from strata_server import DevServer


def invoke(dev, name, event=None):
    response = dev.client("lambda").invoke(
        FunctionName=name, Payload=json.dumps(event or {}).encode()
    )
    assert "FunctionError" not in response, dev.output()
    return json.loads(response["Payload"].read())


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode()


def parent(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def gone(pid):
    """Not running: absent, or a zombie nobody reaped yet."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_python_workers_are_forked_from_the_zygote_and_die_with_strata(own_dev):
    dev, _ = own_dev()
    pid = invoke(dev, "pause", {"seconds": 0})["pid"]
    zygote = parent(pid)
    assert "zygote.py" in cmdline(zygote)
    assert parent(zygote) == dev.proc.pid
    assert os.getpgid(pid) == pid, "a worker leads its own process group"

    dev.proc.kill()  # SIGKILL: strata cannot clean up
    dev.proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (gone(zygote) and gone(pid)):
        time.sleep(0.05)
    assert gone(zygote) and gone(pid)


def test_code_that_ships_its_own_botocore_starts_without_the_zygote(service_copy):
    vendored = service_copy / "vendored"
    (vendored / "botocore").mkdir(parents=True)
    (vendored / "botocore" / "__init__.py").write_text("VENDORED = True\n")
    (vendored / "app.py").write_text(
        "import os\n\n\ndef handler(event, context):\n"
        "    import botocore\n"
        "    return {'pid': os.getpid(), 'vendored': getattr(botocore, 'VENDORED', False)}\n"
    )
    manifest = service_copy / "strata.yaml"
    manifest.write_text(
        manifest.read_text()
        + "    vendored:\n      handler: app.handler\n      code: vendored\n"
    )
    dev = DevServer(service_copy)
    try:
        body = invoke(dev, "vendored")
        assert body["vendored"] is True
        assert "zygote.py" not in cmdline(body["pid"])
        assert "bootstrap.py" in cmdline(body["pid"])
        # Other Python functions are still forked.
        assert "zygote.py" in cmdline(invoke(dev, "pause", {"seconds": 0})["pid"])
    finally:
        dev.stop()
