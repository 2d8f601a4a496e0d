"""The stateless stack's releases on the local target, through the real
binary: `strata dev` records one per swap, `strata rollback` has the running
`strata dev` swap an older one back in (its data untouched), and `plan`,
`deploy` and `destroy --stack stateless` work with or without it."""

import json
import re
import subprocess
import threading
import time

from strata_server import SWAPPED, strata_bin, write_version


def strata(service, *args):
    return subprocess.run(
        [strata_bin(), "--dir", str(service), *args], capture_output=True, text=True, timeout=120
    )


def flat(text):
    """Error text without the line wrapping and frame of the terminal report."""
    return " ".join(text.replace("│", " ").replace("×", " ").split())


def version(dev):
    payload = dev.client("lambda").invoke(FunctionName="echo", Payload=b"{}")["Payload"].read()
    return json.loads(payload)["version"]


def releases(service):
    done = strata(service, "releases", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_rollback_swaps_the_previous_release_back_and_keeps_the_data(own_dev):
    dev, service = own_dev()
    assert version(dev) == "v1"
    dev.client("dynamodb").put_item(TableName="computetest-dev-Orders", Item={"pk": {"S": "kept"}})
    seen = len(dev.lines)
    write_version(service, "v2")
    assert dev.wait_for_line(lambda l: bool(SWAPPED.match(l)), start=seen), dev.output()
    assert version(dev) == "v2"

    kept = releases(service)
    assert len(kept) == 2
    assert kept[0]["current"] and not kept[1]["current"]
    assert kept[0]["changes"]["functions"]["echo"] == {"change": "updated", "code": True, "settings": []}
    listing = strata(service, "releases").stdout
    assert f"* {kept[0]['id']}" in listing and "~ echo (code)" in listing

    back = strata(service, "rollback")
    assert back.returncode == 0, back.stdout + back.stderr
    assert f"to release {kept[1]['id']} (from {kept[0]['id']})" in back.stdout
    assert version(dev) == "v1"
    after = releases(service)
    assert [r["id"] for r in after] == [kept[0]["id"], kept[1]["id"]], "the list keeps creation order"
    assert after[1]["current"] and not after[0]["current"], "the rolled-back release is current"
    again = strata(service, "rollback")
    assert again.returncode == 1 and "no release before the current one" in flat(again.stderr)
    item = dev.client("dynamodb").get_item(TableName="computetest-dev-Orders", Key={"pk": {"S": "kept"}})
    assert "Item" in item, "a rollback touched the data"

    plan = strata(service, "plan", "--stack", "stateless", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "~ function/echo will be updated: code" in plan.stdout

    forward = strata(service, "rollback", "--to", kept[0]["id"])
    assert forward.returncode == 0, forward.stderr
    assert version(dev) == "v2"
    assert strata(service, "plan", "--stack", "stateless", "--detailed-exitcode").returncode == 0

    same = strata(service, "rollback", "--to", kept[0]["id"])
    assert same.returncode == 0, same.stderr
    assert "is already the one strata dev of stage dev runs" in flat(same.stdout)
    assert version(dev) == "v2"
    prefix = strata(service, "rollback", "--to", kept[1]["id"][:5].upper())
    assert prefix.returncode == 0, prefix.stderr
    assert version(dev) == "v1", "a unique prefix of an id names its release, in any case"
    assert strata(service, "rollback", "--to", kept[0]["id"]).returncode == 0
    unknown = strata(service, "rollback", "--to", "0123abcd")
    assert unknown.returncode == 1 and "no release `0123abcd`" in flat(unknown.stderr)

    refused = strata(service, "destroy", "--stack", "stateless")
    assert refused.returncode == 1 and "strata dev is serving" in flat(refused.stderr)

    seen = len(dev.lines)
    write_version(service, "v3")
    assert dev.wait_for_line(lambda l: bool(SWAPPED.match(l)), start=seen), dev.output()
    assert version(dev) == "v3", "after a rollback, an edit swaps in a new release as before"


def test_deploy_stateless_through_a_running_dev_serves_the_files_now(own_dev):
    dev, service = own_dev()
    # The watcher would swap too; the deploy must answer with the release
    # of the files whichever gets there first.
    write_version(service, "v9")
    done = strata(service, "deploy", "--stack", "stateless")
    assert done.returncode == 0, done.stderr
    served = re.search(r"(now|already) serves release ([0-9a-f]{12})", done.stdout)
    assert served, done.stdout
    assert version(dev) == "v9"
    current = [r["id"] for r in releases(service) if r["current"]]
    assert current == [served.group(2)]


def test_without_dev_deploy_records_a_release_and_rollback_says_to_start_dev(service_copy):
    service = service_copy
    before = strata(service, "plan", "--stack", "stateless", "--detailed-exitcode")
    assert before.returncode == 2, before.stdout + before.stderr
    assert "+ function/echo will be created" in before.stdout

    early = strata(service, "deploy", "--stack", "stateless")
    assert early.returncode == 1
    assert "table/Orders (used by echo, " in flat(early.stderr)
    assert "deploy the stateful stack first" in flat(early.stderr)

    both = strata(service, "deploy", "--stack", "all", "--yes")
    assert both.returncode == 0, both.stdout + both.stderr
    assert "Recorded release" in both.stdout
    assert strata(service, "plan", "--stack", "all", "--detailed-exitcode").returncode == 0
    plan = json.loads(strata(service, "plan", "--stack", "all", "--json").stdout)
    assert plan["stateless"]["release"] == plan["stateless"]["current"]
    assert plan["stateful"]["plan"]["stack"] == "stateful"

    rollback = strata(service, "rollback")
    assert rollback.returncode == 1
    assert "no `strata dev` is running" in flat(rollback.stderr)

    destroyed = strata(service, "destroy", "--stack", "stateless")
    assert destroyed.returncode == 0, destroyed.stderr
    assert not any(r["current"] for r in releases(service))
    assert not (service / ".strata" / "dev" / "code").exists()
    assert (service / ".strata" / "dev" / "state" / "stateful.json").exists()
    assert strata(service, "plan", "--stack", "stateless", "--detailed-exitcode").returncode == 2


def test_a_release_swapped_out_long_ago_keeps_its_code_for_calls_still_waiting_on_it(own_dev, tmp_path):
    """Regression: dropping the code of releases beyond the ten kept deleted
    the folder of one whose queued calls still needed a new worker."""
    dev, service = own_dev(
        manifest=lambda text: text.replace("handler: handlers.echo\n", "handler: handlers.echo\n      timeout: 30\n"),
        extra_args=("--concurrency", "1"),
    )
    client = dev.client("lambda")
    results = {}
    release_busy = tmp_path / "release-busy"

    def call(name, payload):
        response = client.invoke(FunctionName="echo", Payload=json.dumps(payload).encode())
        results[name] = (response.get("FunctionError"), json.loads(response["Payload"].read()))

    # The only worker of release 1 is held busy; the second call waits for
    # it, and a worker of a swapped-out release is not reused, so it will
    # need a new one started from release 1's code.
    busy = threading.Thread(target=call, args=("busy", {"wait_for": str(release_busy)}))
    busy.start()
    time.sleep(0.5)
    waiting = threading.Thread(target=call, args=("waiting", {}))
    waiting.start()
    time.sleep(0.3)
    for n in range(2, 13):
        seen = len(dev.lines)
        write_version(service, f"v{n}")
        assert dev.wait_for_line(lambda l: bool(SWAPPED.match(l)), start=seen), dev.output()
    assert busy.is_alive() and waiting.is_alive()
    assert len(releases(service)) == 10, "release 1 is no longer kept"
    release_busy.touch()
    busy.join(60)
    waiting.join(60)
    assert results["busy"][0] is None and results["busy"][1]["version"] == "v1"
    assert results["waiting"][0] is None, results["waiting"]
    assert results["waiting"][1]["version"] == "v1"
