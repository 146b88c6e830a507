"""A PostgreSQL server of the test's own: a cluster made by ``initdb`` in a temporary folder
and started on a free loopback port, which a test stops and starts again (a database outage,
a restart) without touching the machine's server that every other test shares."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.servers import free_port


def _tool(name: str) -> str | None:
    """On the PATH, else the newest of Debian's versioned server folders."""
    installed = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return shutil.which(name) or (installed[-1] if installed else None)


def private_cluster_unavailable_reason() -> str | None:
    """Why no private cluster can be made here (no server binaries), or None."""
    missing = [name for name in ("initdb", "pg_ctl") if _tool(name) is None]
    return f"PostgreSQL's {', '.join(missing)} not installed" if missing else None


class PrivateCluster:
    def __init__(self) -> None:
        # Not in pytest's temporary folders: as root, they are closed to the postgres user.
        folder = Path(tempfile.mkdtemp(prefix="frontdesk-postgresql-"))
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        # PostgreSQL refuses to run as root: as root, the cluster is the postgres user's.
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(folder, "postgres")
        made = ("-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        self._run("initdb", *made)

    def start(self) -> None:
        options = f"-p {self.port} -h 127.0.0.1 -k {self.folder} -c fsync=off"
        log = str(self.folder / "log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self, mode: str = "immediate") -> None:
        """``immediate``: every connection is cut at once, as when the server dies."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def _run(self, tool: str, *arguments: str) -> None:
        path = _tool(tool)
        assert path is not None, private_cluster_unavailable_reason()
        subprocess.run([*self._as, path, *arguments], check=True, capture_output=True, timeout=60)


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A started private cluster, stopped and removed afterwards."""
    cluster = PrivateCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # stopped by the test
            cluster.stop()
        shutil.rmtree(cluster.folder, ignore_errors=True)
