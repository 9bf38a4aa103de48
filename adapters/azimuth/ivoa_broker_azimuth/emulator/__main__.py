"""``python -m ivoa_broker_azimuth.emulator``: serve the emulator for demos."""

from __future__ import annotations

import argparse

import uvicorn

from ._app import AzimuthEmulator
from ._settings import EmulatorSettings


def main() -> None:
    parser = argparse.ArgumentParser(description="An emulated Azimuth portal.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--appcred", default="demo-cred:demo-secret", metavar="ID:SECRET")
    args = parser.parse_args()
    cred, _, secret = args.appcred.partition(":")
    settings = EmulatorSettings(appcreds={cred: (secret, "demo", "demo")}, boot_delay=2.0)
    uvicorn.run(AzimuthEmulator(settings).app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
