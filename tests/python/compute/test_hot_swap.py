"""Hot swap under load: while clients call a function without pause, its
handler file is edited 20 times. No call may fail, and every call that
starts after `strata dev` reports a swap must be answered by the new code."""

import re
import threading
import time

from strata_server import SWAPPED, write_version


EDITS = 20


def test_twenty_edits_under_load_fail_no_call_and_new_calls_get_new_code(own_dev):
    dev, service = own_dev()
    calls = []  # (started, finished, version or error)
    stop = threading.Event()

    def load():
        client = dev.client("lambda")
        while not stop.is_set():
            started = time.monotonic()
            try:
                response = client.invoke(FunctionName="echo", Payload=b"{}")
                body = response["Payload"].read().decode()
                result = re.search(r'"version": "(v\d+)"', body)
                outcome = result.group(1) if result and "FunctionError" not in response else body
            except Exception as e:  # noqa: BLE001 - every failure is recorded
                outcome = f"error: {e!r}"
            calls.append((started, time.monotonic(), outcome))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    swaps = []  # (observed at, version)
    try:
        for n in range(2, EDITS + 2):
            seen = len(dev.lines)
            write_version(service, f"v{n}")
            line = dev.wait_for_line(lambda l: bool(SWAPPED.match(l)), timeout=30, start=seen)
            assert line, f"edit {n} was not swapped in:\n{dev.output()}"
            swaps.append((time.monotonic(), n))
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()

    failed = [c for c in calls if not re.fullmatch(r"v\d+", c[2])]
    assert not failed, f"{len(failed)} of {len(calls)} calls failed, e.g. {failed[:3]}"
    assert len(calls) > EDITS * 4
    for observed, n in swaps:
        stale = [c for c in calls if c[0] > observed and int(c[2][1:]) < n]
        assert not stale, f"calls started after swap to v{n} got older code: {stale[:3]}"
    # The last version is what answers now.
    response = dev.client("lambda").invoke(FunctionName="echo", Payload=b"{}")
    assert f'"version": "v{EDITS + 1}"' in response["Payload"].read().decode()
