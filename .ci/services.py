"""Check (and, under `start`, try to start) the PostgreSQL and Redis the suite uses.

This kind of machine starts both before every session and CI run; `start` only helps
when one of them has stopped, with the same commands the machine itself uses.
"""

import socket
import subprocess
import sys
import time

SERVICES = {
    "PostgreSQL": (
        5432,
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    ),
    "Redis": (
        6379,
        "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' "
        "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log",
    ),
}


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def main(command: str) -> int:
    missing = [name for name, (port, _) in SERVICES.items() if not answers(port)]
    if command == "start":
        for name in missing:
            print(f"{name} is not answering; starting it", file=sys.stderr)
            subprocess.run(SERVICES[name][1], shell=True, check=False)
        deadline = time.monotonic() + 30
        while missing and time.monotonic() < deadline:
            time.sleep(0.5)
            missing = [name for name in missing if not answers(SERVICES[name][0])]
    for name in missing:
        print(
            f"{name} does not answer on 127.0.0.1:{SERVICES[name][0]}", file=sys.stderr
        )
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "check"))
