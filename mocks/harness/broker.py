"""Our own RabbitMQ node on loopback: the NHN service bus for tests and local runs.

NHN's Tjenestebuss is RabbitMQ spoken to over AMQP 1.0 (``/amq/queue/{q}`` and
``/exchange/{ns}/{q}`` addresses). :class:`LocalBroker` runs a private RabbitMQ 3.x node
(Debian's ``rabbitmq-server`` package, ``scripts/install-rabbitmq.sh``) as a child process
with everything under one directory, so it never touches the system service:

* node ``digihelse-{port}@localhost``; AMQP listener on ``127.0.0.1:{port}``; Erlang
  distribution bound to 127.0.0.1 on a free port; epmd (shared, port 4369) bound to
  127.0.0.1 when this node is the one that starts it;
* ``{dir}/mnesia`` (queues and persistent messages: a restart with the same ``dir`` and
  ``port`` keeps durable queues and durable messages), ``{dir}/log``, ``{dir}/home``
  (the Erlang cookie), a private ``enabled_plugins`` with ``rabbitmq_amqp1_0`` only and
  a private ``rabbitmq.conf``;
* ``{dir}/state.json`` with node, port, pid and URL, so ``digihelse broker status|stop``
  in another process finds the node.

The node runs in its own process group and outlives the Python process that started
it (``digihelse broker start`` returns at once); :meth:`LocalBroker.stop` stops it with
``rabbitmqctl stop`` and kills the process group if that does not finish.

Queues are declared over AMQP 1.0 by :class:`mocks.exchange.amqp.AmqpExchange`, not
here. A Helsenorge.Messaging namespace (the exchange a library-based sender addresses as
``/exchange/{ns}/{queue}``) is declared here, direct and durable
(:meth:`LocalBroker.declare_namespace`, ``digihelse broker start --namespace NS``), as NHN's
broker has it; an exchange built with that namespace binds each queue it declares to it. What AMQP 1.0 on RabbitMQ 3.x cannot do goes through ``rabbitmqctl``: queue
depths (:meth:`queue_depths`) and the dead-letter policy that makes a broker-side
``rejected`` outcome land in ``{herid}_dl`` (:meth:`set_dead_letter_policy`), as on NHN
where Helsenorge.Messaging calls ``Reject()``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_PORT = 5672
DEFAULT_DIR = Path("build/rabbitmq")
HOST = "127.0.0.1"
STATE_FILE = "state.json"
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0

_SBIN_CANDIDATES = (Path("/usr/lib/rabbitmq/bin"), Path("/usr/local/lib/rabbitmq/bin"))


class BrokerError(RuntimeError):
    """The broker could not be found, started or stopped."""


def find_rabbitmq_bin() -> Path | None:
    """The directory with ``rabbitmq-server`` and ``rabbitmqctl``, or None if RabbitMQ is not installed.

    Debian's ``/usr/sbin/rabbitmq-server`` is a wrapper that switches to the ``rabbitmq``
    user and the system's ``/var/lib/rabbitmq``; the scripts behind it in
    ``/usr/lib/rabbitmq/bin`` run as the calling user with our environment, which is what
    a private node needs. ``RABBITMQ_BIN`` overrides the search.
    """
    override = os.environ.get("RABBITMQ_BIN")
    candidates = [Path(override)] if override else list(_SBIN_CANDIDATES)
    for directory in candidates:
        if (directory / "rabbitmq-server").exists() and (directory / "rabbitmqctl").exists():
            return directory
    if not override:
        found = shutil.which("rabbitmq-server")
        if found and shutil.which("rabbitmqctl"):
            path = Path(found).resolve().parent
            if (path / "rabbitmqctl").exists():
                return path
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own child, not yet reaped) is not alive.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    running: bool
    node: str
    port: int
    pid: int | None
    url: str
    dir: str


class LocalBroker:
    """A private RabbitMQ node under ``dir`` listening on ``127.0.0.1:port``.

    >>> broker = LocalBroker(port=free_port(), dir="build/rabbitmq-test")  # doctest: +SKIP
    >>> broker.start(); exchange = broker.exchange(); ...; broker.stop()   # doctest: +SKIP

    ``port=None`` takes the port recorded in ``dir`` by an earlier start, else 5672.
    """

    def __init__(self, port: int | None = None, dir: str | os.PathLike[str] = DEFAULT_DIR) -> None:
        self.dir = Path(dir).resolve()
        recorded = self._read_state()
        self.port = int(port if port is not None else (recorded or {}).get("port", DEFAULT_PORT))
        self.node = f"digihelse-{self.port}@localhost"
        self._proc: subprocess.Popen[bytes] | None = None

    # ----------------------------------------------------------------- paths
    @property
    def url(self) -> str:
        """Where AMQP 1.0 clients connect (the ``guest`` user may log in from loopback only)."""
        return f"amqp://guest:guest@{HOST}:{self.port}"

    @property
    def state_path(self) -> Path:
        return self.dir / STATE_FILE

    @property
    def log_path(self) -> Path:
        """The node's console output (startup errors land here); the full log is under ``log/``."""
        return self.dir / "server.out"

    def _read_state(self) -> dict | None:
        try:
            return json.loads((self.dir / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _bin(self) -> Path:
        directory = find_rabbitmq_bin()
        if directory is None:
            raise BrokerError(
                "RabbitMQ is not installed: run scripts/install-rabbitmq.sh (Debian's rabbitmq-server) "
                "or set RABBITMQ_BIN to the directory holding rabbitmq-server and rabbitmqctl"
            )
        return directory

    def _env(self, dist_port: int | None = None) -> dict[str, str]:
        home = self.dir / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        loopback_dist = "-kernel inet_dist_use_interface {127,0,0,1}"
        env.update(
            HOME=str(home),
            LC_ALL="C.UTF-8",
            LANG="C.UTF-8",
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS=HOST,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_MNESIA_BASE=str(self.dir / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.dir / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.dir / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.dir / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.dir / "advanced.config"),
            RABBITMQ_CONF_ENV_FILE=str(self.dir / "rabbitmq-env.conf"),
            RABBITMQ_PID_FILE=str(self.dir / "rabbitmq.pid"),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=loopback_dist,
            RABBITMQ_CTL_ERL_ARGS=loopback_dist,
        )
        if dist_port is not None:
            env["RABBITMQ_DIST_PORT"] = str(dist_port)
        return env

    def _prepare_dir(self) -> None:
        for sub in ("home", "mnesia", "log"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.dir / "home").chmod(0o700)
        (self.dir / "enabled_plugins").write_text("[rabbitmq_amqp1_0].\n", encoding="ascii")
        # Settings the env vars above cannot carry. Loopback only; guest may log in from
        # localhost (RabbitMQ's default loopback_users); AMQP 1.0 clients that skip SASL
        # act as guest, as with the plugin's default.
        (self.dir / "rabbitmq.conf").write_text(
            "\n".join(
                [
                    "loopback_users.guest = true",
                    "amqp1_0.default_user = guest",
                    "amqp1_0.default_vhost = /",
                    "disk_free_limit.absolute = 50MB",
                    "log.file.level = info",
                    "log.console.level = warning",
                    "",
                ]
            ),
            encoding="ascii",
        )
        (self.dir / "rabbitmq-env.conf").write_text("# private node: ignore /etc/rabbitmq/rabbitmq-env.conf\n")

    # ------------------------------------------------------------ lifecycle
    def is_running(self) -> bool:
        state = self._read_state()
        if not state or int(state.get("port", -1)) != self.port:
            return False
        return _pid_alive(state.get("pid")) and _port_open(self.port)

    def status(self) -> BrokerStatus:
        state = self._read_state() or {}
        pid = state.get("pid") if int(state.get("port", -1)) == self.port else None
        running = bool(pid) and _pid_alive(pid) and _port_open(self.port)
        return BrokerStatus(running, self.node, self.port, pid if running else None, self.url, str(self.dir))

    def start(self, timeout: float = START_TIMEOUT_S) -> BrokerStatus:
        """Start the node (idempotent) and wait until it accepts AMQP 1.0 connections."""
        if self.is_running():
            return self.status()
        bin_dir = self._bin()
        if _port_open(self.port):
            raise BrokerError(f"port {HOST}:{self.port} is taken by another process")
        self._prepare_dir()
        env = self._env(dist_port=free_port())
        log = open(self.log_path, "ab")
        try:
            self._proc = subprocess.Popen(
                [str(bin_dir / "rabbitmq-server")],
                cwd=self.dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self._write_state(self._proc.pid)
        deadline = time.monotonic() + timeout
        while not _port_open(self.port, timeout=0.2):
            if self._proc.poll() is not None:
                self._clear_state()
                raise BrokerError(f"rabbitmq-server exited with {self._proc.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                self._kill_group(self._proc.pid)
                raise BrokerError(f"rabbitmq-server did not listen on {self.port} within {timeout:.0f} s; see {self.log_path}")
            time.sleep(0.1)
        # The listener opens just before the plugins finish booting: wait for the node.
        remaining = max(5.0, deadline - time.monotonic())
        result = self.ctl("await_startup", "--timeout", str(int(remaining)), timeout=remaining + 10, check=False)
        if result.returncode != 0:
            self._kill_group(self._proc.pid)
            raise BrokerError(f"rabbitmq node {self.node} did not finish booting: {result.stderr.strip()[-500:]}")
        return self.status()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Stop the node; True if one was running. Durable queues and messages stay in ``dir``."""
        state = self._read_state()
        pid = (state or {}).get("pid")
        if not state or int(state.get("port", -1)) != self.port or not _pid_alive(pid):
            self._clear_state()
            return False
        if self._bin_or_none() is not None:
            self.ctl("stop", timeout=timeout, check=False)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.1)
        if _pid_alive(pid):
            self._kill_group(pid)
        self._reap()
        self._clear_state()
        return True

    def restart(self) -> BrokerStatus:
        self.stop()
        return self.start()

    def _bin_or_none(self) -> Path | None:
        try:
            return self._bin()
        except BrokerError:
            return None

    def _reap(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            self._proc = None

    def _kill_group(self, pid: int) -> None:
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pid, sig)
            except (ProcessLookupError, PermissionError):
                break
            deadline = time.monotonic() + wait
            while _pid_alive(pid) and time.monotonic() < deadline:
                self._reap()
                time.sleep(0.1)
            if not _pid_alive(pid):
                break
        if self._proc is not None:
            try:
                self._proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
            self._proc = None

    def _write_state(self, pid: int) -> None:
        state = {"node": self.node, "port": self.port, "pid": pid, "url": self.url, "dir": str(self.dir)}
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.state_path)

    def _clear_state(self) -> None:
        # Keep the port so a later start in the same dir reuses the node name (and its data).
        state = self._read_state()
        if state is not None:
            state["pid"] = None
            self.state_path.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")

    # ------------------------------------------------------------ rabbitmqctl
    def ctl(self, *args: str, timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``rabbitmqctl -n NODE ARGS`` against this node (about 0.5 s a call)."""
        result = subprocess.run(
            [str(self._bin() / "rabbitmqctl"), "-n", self.node, *args],
            env=self._env(),
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            raise BrokerError(f"rabbitmqctl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()[-500:]}")
        return result

    def queue_depths(self) -> dict[str, int]:
        """Messages per queue (ready + delivered but not yet acknowledged)."""
        out = self.ctl("list_queues", "--quiet", "--formatter", "json", "name", "messages").stdout
        start = out.find("[")
        rows = json.loads(out[start:]) if start >= 0 else []
        return {row["name"]: int(row["messages"]) for row in rows}

    def queue_depth(self, queue: str) -> int:
        """Messages on ``queue``; ``KeyError`` if it does not exist."""
        depths = self.queue_depths()
        if queue not in depths:
            raise KeyError(queue)
        return depths[queue]

    def set_dead_letter_policy(self, her_id: int) -> None:
        """Route broker-side rejects on the party's queues to ``{her_id}_dl``.

        With it an AMQP ``rejected`` outcome (Helsenorge.Messaging's ``Reject()`` on
        RabbitMQ) dead-letters through the default exchange into ``{her_id}_dl`` instead of
        dropping the message. One ``rabbitmqctl set_policy`` per party.
        """
        definition = json.dumps({"dead-letter-exchange": "", "dead-letter-routing-key": f"{her_id}_dl"})
        self.ctl(
            "set_policy", "--apply-to", "queues", "--priority", "1",
            f"digihelse-dl-{her_id}", f"^{her_id}_(async|sync|syncreply|error)$", definition,
        )

    def declare_namespace(self, namespace: str) -> None:
        """Declare exchange ``namespace`` (direct, durable; idempotent) for library-style senders.

        Queues are bound to it, each under its own name, by an
        :class:`~mocks.exchange.amqp.AmqpExchange` built with ``namespace=`` when it declares them.
        """
        from mocks.exchange.amqp_bindings import NamespaceError, declare_namespace

        try:
            declare_namespace(self.url, namespace)
        except NamespaceError as exc:
            raise BrokerError(str(exc)) from None

    def exchange(self, **options):
        """An :class:`~mocks.exchange.amqp.AmqpExchange` on this node whose ``depth`` works."""
        from mocks.exchange.amqp import AmqpExchange

        return AmqpExchange(self.url, depth=self.queue_depth, **options)

    def as_dict(self) -> dict:
        return asdict(self.status())
