"""One Locust worker process of the viewer simulator: it plays the viewers the master gives it.

    python -m loadtest.worker --master-port P --mode ll --host http://127.0.0.1:E --path /pb.m3u8

Started by the generator (`loadtest.generator`), one per core it may use: one gevent process uses at most one
core, so distributed mode is how the generator uses what the servers leave. Each stats report to the master
carries what its viewers recorded since the last one (blocking reloads, response times, stalls).
"""

# ruff: noqa: I001  (Locust first: importing it patches the process with gevent, before anything else loads)
import locust  # noqa: F401

import argparse
import sys
from typing import Any

from locust.env import Environment

from loadtest import viewers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master-host", default="127.0.0.1")
    parser.add_argument("--master-port", type=int, required=True)
    parser.add_argument("--mode", choices=sorted(viewers.USER_CLASSES), required=True)
    parser.add_argument("--host", required=True, help="where the viewers connect")
    parser.add_argument("--path", required=True, help="the master playlist's path")
    args = parser.parse_args(argv)
    environment = Environment(user_classes=[viewers.viewer_class(args.mode, args.host, args.path)])
    runner = environment.create_worker_runner(args.master_host, args.master_port)

    def report(client_id: str, data: dict[str, Any]) -> None:
        data["viewers"] = viewers.RECORDER.take()

    environment.events.report_to_master.add_listener(report)
    runner.greenlet.join()  # until the master says quit
    return 0


if __name__ == "__main__":
    sys.exit(main())
