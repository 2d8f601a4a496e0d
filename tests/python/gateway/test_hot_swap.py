"""Hot swap through the gateway: a request in flight during a swap finishes
on the code it started with, the next one gets the new code, and no request
fails while the release changes."""

import threading
import time


def test_requests_in_flight_finish_on_old_code_and_none_fail(own_dev):
    """Strata's swap invariant (ARCHITECTURE.md, gateway): each request takes
    one snapshot of the API when it starts and finishes on it."""
    dev, api, service = own_dev()
    assert api.json("GET", "/slow?s=0")[2]["version"] == "v1"

    in_flight = {}
    slow = threading.Thread(target=lambda: in_flight.update(result=api.json("GET", "/slow?s=2")))
    slow.start()
    statuses = []
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            statuses.append(api.json("GET", "/slow?s=0")[0])

    hammering = threading.Thread(target=hammer)
    hammering.start()
    time.sleep(0.3)
    start = len(dev.lines)
    handlers = service / "src" / "handlers.py"
    handlers.write_text(handlers.read_text().replace('VERSION = "v1"', 'VERSION = "v2"'))
    swapped = dev.wait_for_line(lambda line: line.startswith("swapped in release"), timeout=60, start=start)
    assert swapped, dev.output()
    assert api.json("GET", "/slow?s=0")[2]["version"] == "v2"
    stop.set()
    hammering.join()
    slow.join()
    status, _, body = in_flight["result"]
    assert (status, body["version"]) == (200, "v1")
    assert statuses and set(statuses) == {200}, statuses
