"""The process supervisor behind ``manage.py run_all`` (what ``make run`` starts).

``run_all`` decides what to start with Django's settings, then replaces itself (``exec``) with
this module, which imports the standard library only: the supervisor stays a small process for as
long as ``make run`` runs, instead of a whole Django at rest.

One foreground process; Ctrl-C (SIGINT) or SIGTERM stops everything and leaves no process
behind. Each service runs in its own process group, so the supervisor, not the terminal, decides
how it is stopped (Celery takes a second SIGINT as "cold shutdown"): its main process gets one
SIGTERM (Celery's warm shutdown stops its own pool), a grace period, then SIGKILL for the whole
group, so nothing it started can outlive it. Children also die with the supervisor if it is
killed outright (``PR_SET_PDEATHSIG``).

A service that exits by itself is restarted, and the supervisor says which one died, with its exit
status, and when it comes back. Its whole group is killed first (a SIGKILLed Celery worker leaves
its pool processes behind, which would otherwise keep consuming next to the new ones). The delay
doubles from 1 s up to 30 s while the service keeps dying, so a service that cannot start does not
spin, and falls back to 1 s once it has run for a minute.

    python -m console.supervisor '<plan as JSON>'

The plan: ``{"cwd": ..., "services": [{"name", "argv", "env"}], "endpoints": [[host, port]],
"announcement": [lines said once every endpoint answers]}``.
"""

from __future__ import annotations

import ctypes
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

GRACE_SECONDS = 20.0
RESTART_FIRST_DELAY = 1.0
RESTART_MAX_DELAY = 30.0
# A service that ran this long before dying is restarted after the first delay again.
RESTART_STABLE_SECONDS = 60.0
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: Linux sends it SIGTERM when the supervisor dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: Ctrl-C handling still applies
        pass


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    buffer: bytes = field(default=b"")
    started_at: float = 0.0
    # Delay before the next restart, and when it is due (None: the service is running).
    restart_delay: float = RESTART_FIRST_DELAY
    restart_at: float | None = None


class Supervisor:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.cwd: str = plan["cwd"]
        self.services = [Service(s["name"], list(s["argv"]), dict(s.get("env", {}))) for s in plan["services"]]
        self.endpoints: list[tuple[str, int]] = [(host, int(port)) for host, port in plan["endpoints"]]
        self.announcement: list[str] = list(plan["announcement"])
        self.stopping = False
        self.force = False
        self.selector = selectors.DefaultSelector()

    def run(self) -> None:
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)
        try:
            for service in self.services:
                self._start(service)
            self._supervise(self.services)
        finally:
            self._stop_all(self.services)
        print("Everything stopped.", flush=True)

    def _start(self, service: Service) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **service.env}
        service.process = subprocess.Popen(
            service.argv,
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,  # its own group: the terminal's Ctrl-C reaches only the supervisor
            preexec_fn=_die_with_parent,
        )
        service.started_at = time.monotonic()
        service.restart_at = None
        assert service.process.stdout is not None
        os.set_blocking(service.process.stdout.fileno(), False)
        self.selector.register(service.process.stdout, selectors.EVENT_READ, service)
        self._say("run_all", f"started {service.name} (pid {service.process.pid}): {' '.join(service.argv[1:])}")

    @staticmethod
    def _listening(endpoints: list[tuple[str, int]]) -> bool:
        for host, port in endpoints:
            try:
                with socket.create_connection((host, port), timeout=0.2):
                    pass
            except OSError:
                return False
        return True

    # --- supervision ------------------------------------------------------------------------
    def _request_stop(self, signum: int, frame: object) -> None:
        # A second Ctrl-C while stopping: do not wait for the grace period.
        self.force = self.stopping
        self.stopping = True

    def _supervise(self, services: list[Service]) -> None:
        announced = False
        while not self.stopping:
            if not announced and self._listening(self.endpoints):
                for line in self.announcement:
                    self._say("run_all", line)
                announced = True
            self._pump_all(timeout=0.2)
            for service in services:
                if self.stopping:
                    break
                if service.process is not None and service.process.poll() is not None:
                    self._schedule_restart(service)
                elif service.restart_at is not None and time.monotonic() >= service.restart_at:
                    self._start(service)

    def _schedule_restart(self, service: Service) -> None:
        """The service exited by itself: say so, clear up what it left, and book its restart."""
        assert service.process is not None
        code = service.process.returncode
        ran = time.monotonic() - service.started_at
        self._release(service)
        if ran >= RESTART_STABLE_SECONDS:
            service.restart_delay = RESTART_FIRST_DELAY
        delay = service.restart_delay
        service.restart_delay = min(delay * 2, RESTART_MAX_DELAY)
        service.restart_at = time.monotonic() + delay
        at = datetime.fromtimestamp(time.time() + delay).strftime("%H:%M:%S")
        self._say(
            "run_all",
            f"{service.name} died ({_describe_exit(code)}) after {ran:.0f}s; restarting it in {delay:.0f}s (at {at}).",
        )

    def _release(self, service: Service) -> None:
        """Forget a service's exited process: its last output, its group, its pipe."""
        assert service.process is not None
        self._drain(service)
        self._signal_group(service, signal.SIGKILL)
        if service.process.stdout is not None:
            try:
                self.selector.unregister(service.process.stdout)
            except (KeyError, ValueError):
                pass
            service.process.stdout.close()
        service.process = None

    def _pump_all(self, timeout: float) -> None:
        if not self.selector.get_map():
            time.sleep(timeout)
            return
        for key, _ in self.selector.select(timeout=timeout):
            self._pump(key.data, key.fileobj)  # type: ignore[arg-type]

    def _pump(self, service: Service, stream: IO[bytes]) -> None:
        try:
            chunk = stream.read(65536)
        except BlockingIOError:
            return
        if chunk is None:  # non-blocking read, nothing yet
            return
        if not chunk:  # end of file: the service closed its output (it is exiting)
            self.selector.unregister(stream)
            return
        service.buffer += chunk
        *lines, service.buffer = service.buffer.split(b"\n")
        for line in lines:
            self._say(service.name, line.decode(errors="replace").rstrip("\r"))

    def _drain(self, service: Service) -> None:
        if service.process is None or service.process.stdout is None:
            return
        try:
            rest = service.process.stdout.read() or b""
        except (BlockingIOError, ValueError):
            rest = b""
        for line in (service.buffer + rest).decode(errors="replace").splitlines():
            self._say(service.name, line)
        service.buffer = b""

    def _stop_all(self, services: list[Service]) -> None:
        running = [s for s in services if s.process is not None and s.process.poll() is None]
        if running:
            names = ", ".join(s.name for s in running)
            self._say("run_all", f"stopping {names} (Ctrl-C again to kill at once)")
        for service in running:
            # The service's main process only: Celery's warm shutdown then stops its own pool.
            assert service.process is not None
            service.process.terminate()
        deadline = time.monotonic() + GRACE_SECONDS
        while not self.force and time.monotonic() < deadline:
            if all(s.process is not None and s.process.poll() is not None for s in running):
                break
            self._pump_all(timeout=0.1)
        for service in running:
            assert service.process is not None
            if service.process.poll() is None:
                why = "second Ctrl-C" if self.force else f"still running after {GRACE_SECONDS:.0f}s"
                self._say("run_all", f"killing {service.name} ({why})")
        for service in services:
            # SIGKILL the whole group: pool processes or anything a service left behind go too.
            self._signal_group(service, signal.SIGKILL)
            if service.process is not None:
                service.process.wait(timeout=10)
                self._drain(service)
                if service.process.stdout is not None:
                    try:
                        self.selector.unregister(service.process.stdout)
                    except (KeyError, ValueError):
                        pass
                    service.process.stdout.close()

    def _signal_group(self, service: Service, signum: int) -> None:
        if service.process is None:
            return
        try:
            os.killpg(service.process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def _say(self, name: str, line: str) -> None:
        sys.stdout.write(f"{name:<8}| {line}\n")
        sys.stdout.flush()


def _describe_exit(code: int) -> str:
    """``exit status 1`` or ``killed by SIGKILL`` (Popen reports a signal as a negative code)."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: python -m console.supervisor '<plan as JSON>' (see {__file__})", file=sys.stderr)
        return 2
    Supervisor(json.loads(argv[1])).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
