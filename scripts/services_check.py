"""Before the suite: say in one line which local service the tests cannot reach.

The tests need this machine's Postgres and Redis (see [tool.pytest.ini_options]
in pyproject.toml for the addresses). Where a ../shared/services.sh exists
(the team's machines), it is asked to start what is down.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/tailor",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
}


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            return True
    except OSError:
        return False


def main() -> int:
    urls = {name: os.environ.get(name, default) for name, default in DEFAULTS.items()}
    down = [name for name, url in urls.items() if not reachable(url)]
    starter = ROOT.parent / "shared" / "services.sh"
    if down and starter.exists():
        subprocess.run(["bash", str(starter)], check=False)
        down = [name for name in down if not reachable(urls[name])]
    for name in down:
        print(f"The tests need the service at {name}={urls[name]}, which does not answer: start it or set {name}.")
    return 1 if down else 0


if __name__ == "__main__":
    sys.exit(main())
