"""Run the OCI emulator until SIGINT/SIGTERM: ``python -m skybridge.testing.oci --port 8484``.

With ``--config-dir DIR`` it writes ``DIR/config`` and ``DIR/key.pem`` so the OCI CLI or SDK can
use it (``OCI_CLI_CONFIG_FILE=DIR/config oci --endpoint http://127.0.0.1:8484 ...``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from skybridge.testing.oci.emulator import OciEmulator


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m skybridge.testing.oci", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port (0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--region", default="us-ashburn-1", help="region in the config and OCIDs")
    parser.add_argument("--namespace", default=None, help="Object Storage namespace")
    parser.add_argument("--config-dir", default=None, help="write the SDK config and key here")
    parser.add_argument(
        "--key-file", default=None, help="PEM private key to trust instead of a new one"
    )
    parser.add_argument("--no-verify", action="store_true", help="accept unsigned requests")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    key = None
    if args.key_file:
        with open(args.key_file, "rb") as handle:
            key = handle.read()
    emulator = OciEmulator(
        args.port,
        args.host,
        region=args.region,
        namespace=args.namespace,
        api_key=key,
        verify_signatures=not args.no_verify,
    )
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    with emulator:
        print(f"endpoint={emulator.endpoint}", flush=True)
        print(f"namespace={emulator.namespace}", flush=True)
        if args.config_dir:
            print(f"config={emulator.write_config(args.config_dir)}", flush=True)
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
