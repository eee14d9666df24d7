"""Kaggle notebook sessions for the emulator: a pushed kernel really runs, the way Kaggle runs a
"Save & Run All" version. Attach with `KaggleSessions(emu, ...).attach()`; every push then runs.

What a session gets, and where each behaviour comes from:
  * a fresh root (the product reaches it through T2SQL_KAGGLE_ROOT, default /kaggle):
    `input/` with each VALID dataset source mounted read-only at the version that is ready when
    the session starts (a dataset that did not exist at push time was dropped by SaveKernel and is
    not mounted: kaggle 2.2.4 kernels_push_cli prints "not valid dataset sources and could not be
    added", and a 2026 user log says the kernel then runs without that input; which version a
    session mounts is undocumented: the latest ready one is the natural reading), in one of the
    two layouts seen on Kaggle (`layout`: "slug" -> input/<slug> and input/<model>/<framework>/...;
    "datasets" -> input/datasets/<owner>/<slug> and input/models/<owner>/<model>/...: field reports
    of 2026, e.g. helmet-png/m45-imf-analysis PR#18); an empty `working/`;
  * the image's packages but not ours: a fresh interpreter that sees this venv's packages except
    kaggle_t2sql, so the notebook's install cell really installs the wheel from its input (Kaggle's
    image has no kaggle_t2sql; docker-python installs only `kaggle>=1.8.3` of our dependencies'
    Kaggle tools: kaggle_requirements.txt), and with the kaggle client Kaggle's image has instead of
    this venv's: kaggle 2.0.2 and kagglesdk 0.1.20 (tests/emulator/kaggle_image.txt names the source: Colab's
    pip freeze under docker-python's base image), installed by ./dev in .venv/kaggle-image. So the
    install cell must upgrade them from the wheel dataset (kaggle_t2sql needs kaggle>=2.2.1), as on
    Kaggle. The rest of the image is this venv's versions (newer than Kaggle's transformers 5.0, peft
    0.19.1, datasets 4.0, torch 2.10+cu128: a CPU machine cannot run that torch, and the e2e compares
    with a local run of this venv);
  * Secrets only when attached: a stand-in `kaggle_secrets` module behaving like docker-python's
    patches/kaggle_secrets.py (UserSecretsClient; get_secret of an unattached label raises);
    KAGGLE_USER_SECRETS_TOKEN only then (whether Kaggle sets it without attached secrets is
    undocumented: without it the client's constructor raises, the harsher case);
    KAGGLE_KERNEL_RUN_TYPE=Batch (seen in logs of committed runs; docker-python's tests use
    "Interactive"); no Kaggle credentials of the user otherwise (no ~/.kaggle);
  * Kaggle's own notebook token: KAGGLE_DATA_PROXY_URL set and KAGGLE_API_V1_TOKEN naming a file
    that holds a token of the kernel's owner (kagglesdk 0.1.37 kaggle_env: with both
    KAGGLE_KERNEL_RUN_TYPE and KAGGLE_DATA_PROXY_URL set, the client uses that token before any
    other credentials). The emulator takes the harsher reading of its rights
    (KaggleEmulator.issue_notebook_token): reads of the session's attached inputs only, 403 on
    everything else. `notebook_tokens` lists the tokens issued, so a test can look for them in
    logs, outputs and datasets;
  * queued before running: `queue_seconds` (default 0.5) in status `queued` before the session starts
    (KernelWorkerStatus QUEUED; Kaggle queues a version when no machine is free);
  * GPU quota while a session runs: `live_quota` (default True) charges a running GPU session's
    elapsed time as it goes (the harsher reading: Kaggle's quota page is seen to grow during a
    session; what the API reports mid-session is undocumented), so a push made by a running
    session is judged with that session's time already counted, once;
  * the network of a session with internet on: the emulated Kaggle API (client env of the
    emulator); with internet off, proxies that lead nowhere;
  * the pushed notebook run by papermill exactly as pushed, no parameters injected (Kaggle runs
    committed notebooks through papermill: docker-python PR#808, PapermillExecutionError in batch
    logs; there is no API to pass parameters);
  * killed at the session limit, with every process the session started (a notebook session is
    one Docker container, docker-python's image, and the container goes when the session ends:
    nothing it started lives on; the kernel papermill starts is in a session of its own,
    jupyter_client's launcher uses start_new_session, so killing papermill's process group alone
    would leave the kernel and its training subprocess running), at 12 h (kaggle.com/docs/notebooks: "12 hours
    execution time for CPU and GPU notebook sessions"), or the push's `session_timeout_seconds`,
    divided by `time_scale`; what Kaggle reports for such a session is undocumented: here "error"
    with a timeout message, and no output kept (files in /kaggle/working may or may not survive a
    timeout: the harsher case);
  * a GPU push without machine_shape gets the server's default accelerator, recorded as a P100
    (kaggle-cli #821), which the image's torch cannot use (kaggle-cli PR#1156);
  * status, log (the executed cells' output) and output files recorded; GPU quota charged for a
    GPU session, elapsed time multiplied by `time_scale` (Kaggle: "30 hours or sometimes higher"
    a week, kaggle.com/docs/efficient-gpu-usage).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import venv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

SESSION_HOURS = 12.0

SECRETS_STANDIN = '''"""Stand-in for Kaggle's kaggle_secrets, for the emulator: the behaviour of docker-python's
patches/kaggle_secrets.py + kaggle_web_client.py (constructor needs KAGGLE_USER_SECRETS_TOKEN; an unknown
label gets a BackendError, as in its tests/test_user_secrets.py)."""
import json
import os


class CredentialError(Exception):
    pass


class BackendError(Exception):
    pass


class ValidationError(Exception):
    pass


class UserSecretsClient:
    def __init__(self):
        if not os.environ.get("KAGGLE_USER_SECRETS_TOKEN"):
            raise CredentialError("A JWT Token is required to call Kaggle, but none found in environment variable "
                                  "KAGGLE_USER_SECRETS_TOKEN")
        with open(os.environ["T2SQL_EMULATED_SECRETS"]) as f:
            self._secrets = json.load(f)

    def get_secret(self, label):
        if not label:
            raise ValidationError("Label must be non-empty.")
        if label not in self._secrets:
            raise BackendError("Unexpected response from the service. Response: "
                               "{'wasSuccessful': 'false', 'errors': ['No user secrets exist for kernel id 1.']}")
        return self._secrets[label]
'''


@dataclass
class SessionRecord:
    ref: str
    version: int
    status: str = "queued"  # running | complete | error
    failure_message: Optional[str] = None
    started: float = 0.0
    ended: float = 0.0
    killed: bool = False
    root: Path = Path()
    log: str = ""
    machine_shape: Optional[str] = None
    mounted: list[str] = field(default_factory=list)

    @property
    def elapsed_s(self) -> float:
        return (self.ended or time.time()) - self.started

    def installed(self) -> list[str]:
        """What the session's own pip installs put in its interpreter ("name-version"), over the image's packages."""
        return sorted(d.name[:-len(".dist-info")] for d in self.root.glob("image/lib/python*/site-packages/*.dist-info"))


IMAGE_PINS = Path(__file__).with_name("kaggle_image.txt")  # what Kaggle's image has instead of this venv's


def image_pins() -> dict[str, str]:
    """{distribution: version} of tests/emulator/kaggle_image.txt."""
    lines = [line.split("#", 1)[0].strip() for line in IMAGE_PINS.read_text().splitlines()]
    return dict(line.split("==") for line in lines if line)


def image_overlay() -> Path:
    """The pinned versions, installed by ./dev (pip install --no-deps --target .venv/kaggle-image)."""
    overlay = Path(sys.prefix) / "kaggle-image"
    missing = [d for d, v in image_pins().items() if not (overlay / f"{d}-{v}.dist-info").is_dir()]
    if missing:
        raise RuntimeError(f"{overlay} lacks {', '.join(missing)} of {IMAGE_PINS.name}: run ./dev true (it rebuilds the "
                           "venv when that file changes)")
    return overlay


def offline_wheel_links() -> Path:
    """The wheels of requirements.txt for Kaggle's Python, downloaded by ./dev: `pip download` reads them with
    PIP_NO_INDEX=1 PIP_FIND_LINKS=<this>, so `publish-wheel --with-deps` runs without the network."""
    links = Path(sys.prefix) / "kaggle-wheels"
    if not any(links.glob("kaggle-*.whl")):
        raise RuntimeError(f"{links} holds no wheels: run ./dev true")
    return links


def offline_wheels(dest: Path) -> list[str]:
    """The wheel dataset `publish-wheel --with-deps` makes (this package + requirements.txt for Kaggle), built
    from ./dev's download instead of the network."""
    from kaggle_t2sql.kaggle.wheels import build_wheels

    saved = {k: os.environ.get(k) for k in ("PIP_NO_INDEX", "PIP_FIND_LINKS")}
    os.environ.update({"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(offline_wheel_links())})
    try:
        return build_wheels(dest, with_deps=True)
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


class KaggleImage:
    """A per-session interpreter with this venv's packages minus kaggle_t2sql, and with the kaggle client
    versions of Kaggle's image (image_pins) in place of this venv's (a symlink farm, built once)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.site = self.root / "image-site"
        self._lock = threading.Lock()

    def _build_site(self) -> None:
        if self.site.is_dir():
            return
        tmp = self.site.with_name("image-site.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        overlay = image_overlay()
        replaced = {d.lower().replace("-", "_") for d in image_pins()}  # import names and dist-info prefixes
        source = Path(sysconfig.get_paths()["purelib"])
        for entry in source.iterdir():
            name = entry.name.lower()
            if name.startswith(("kaggle_t2sql", "__editable__", "_kaggle_t2sql")) or name.endswith(".pth"):
                continue
            if name in replaced or (name.endswith(".dist-info") and name.split("-", 1)[0] in replaced):
                continue
            (tmp / entry.name).symlink_to(entry)
        for entry in overlay.iterdir():
            if entry.name != "bin":
                (tmp / entry.name).symlink_to(entry)
        os.replace(tmp, self.site)

    def python(self, dest: Path) -> Path:
        """A fresh venv at dest whose site-packages sees the image; returns its python."""
        with self._lock:
            self._build_site()
        venv.EnvBuilder(with_pip=False, symlinks=True).create(dest)
        purelib = Path(subprocess.run([str(dest / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                      capture_output=True, text=True, check=True).stdout.strip())
        (purelib / "kaggle-image.pth").write_text(str(self.site) + "\n")
        return dest / "bin" / "python"


class KaggleSessions:
    def __init__(self, emu, root: Path, time_scale: float = 1.0, session_hours: float = SESSION_HOURS,
                 layout: str = "slug", cache_dir: Optional[str] = None, queue_seconds: float = 0.5,
                 live_quota: bool = True):
        self.emu = emu
        self.root = Path(root)
        self.time_scale = time_scale
        self.session_hours = session_hours
        self.layout = layout  # "slug" | "datasets"
        self.cache_dir = cache_dir
        self.secrets: dict[str, dict[str, str]] = {}  # kernel ref -> attached secrets (label -> value)
        self.models: dict[str, Path] = {}  # model handle owner/model/framework/variation/version -> files
        self.records: list[SessionRecord] = []
        self.notebook_tokens: list[str] = []  # Kaggle's own token of each session (must never leak)
        self.queue_seconds = queue_seconds
        self.live_quota = live_quota
        self.image = KaggleImage(self.root)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def attach(self) -> "KaggleSessions":
        self.emu.on_kernel_push = self._on_push
        self.emu.kernel_push_hook_async = True
        self.emu.model_exists = lambda handle: handle in self.models
        return self

    def attach_secret(self, kernel: str, label: str, value: str) -> None:
        self.secrets.setdefault(kernel, {})[label] = value

    @property
    def limit_s(self) -> float:
        return self.session_hours * 3600 / self.time_scale

    def wait_idle(self, timeout_s: float = 600) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                alive = [t for t in self._threads if t.is_alive()]
            if not alive:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("emulated Kaggle sessions still running")
            alive[0].join(timeout=0.2)

    # ------------------------------------------------------------------ one session

    def _on_push(self, ref: str, version: int, folder: Path) -> None:
        record = SessionRecord(ref=ref, version=version)
        with self._lock:
            self.records.append(record)
            self._threads.append(threading.current_thread())
        try:
            self._run(record, folder)
        except BaseException as exc:  # noqa: BLE001 - an emulator failure is a failed session, visibly
            record.status, record.failure_message = "error", f"emulator: {type(exc).__name__}: {exc}"
            self.emu.set_kernel_status(ref, "error", version, failure_message=record.failure_message)
            raise
        finally:
            record.ended = record.ended or time.time()

    def _settings(self, ref: str, version: int) -> dict:
        (run,) = [r for r in self.emu.kernel_runs(ref) if r.version == version]
        return run.settings

    def _mount(self, record: SessionRecord, settings: dict, input_dir: Path) -> None:
        for source in settings.get("datasetDataSources") or []:
            ref = "/".join(source.split("/")[:2])
            ready = [v for v in self.emu.dataset_versions(ref) if v["status"] == "READY"]
            if not ready:
                continue
            owner, slug = ref.split("/")
            target = input_dir / (slug if self.layout == "slug" else f"datasets/{owner}/{slug}")
            shutil.copytree(self.emu.version_dir(ref, ready[-1]["number"]), target)
            record.mounted.append(f"{ref}/{ready[-1]['number']}")
        for handle in settings.get("modelDataSources") or []:
            if handle in self.models:
                owner, model, framework, variation, number = handle.split("/")
                base = input_dir / model if self.layout == "slug" else input_dir / "models" / owner / model
                shutil.copytree(self.models[handle], base / framework / variation / number)
                record.mounted.append(handle)
        _chmod_tree(input_dir, writable=False)  # Kaggle inputs are read-only

    def _env(self, record: SessionRecord, settings: dict, root: Path) -> dict:
        client = self.emu.subprocess_env(root / "client", auth="none")
        env = {k: v for k, v in client.items() if not k.startswith("KAGGLE_") or k == "KAGGLE_API_ENVIRONMENT"}
        for name in ("KAGGLE_CONFIG_DIR",):
            env.pop(name, None)
        if not settings.get("enableInternet", True):
            for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
                env[name] = "http://127.0.0.1:9"  # discard port: nothing answers
        env.update({
            "T2SQL_KAGGLE_ROOT": str(root / "kaggle"),
            "KAGGLE_KERNEL_RUN_TYPE": "Batch",
            "PYTHONPATH": str(root / "site"),
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            SESSION_MARKER: str(root),  # how the end of the session finds every process it started
        })
        env.pop("VIRTUAL_ENV", None)
        if self.cache_dir:
            env["T2SQL_CACHE_DIR"] = self.cache_dir
        token = self.emu.issue_notebook_token(record.ref.split("/")[0], [m for m in record.mounted if m.count("/") == 2])
        self.notebook_tokens.append(token)
        (root / "kaggle-api-v1-token").write_text(token)
        env["KAGGLE_API_V1_TOKEN"] = str(root / "kaggle-api-v1-token")
        env["KAGGLE_DATA_PROXY_URL"] = f"{self.emu.url}/_emulator/data-proxy"
        attached = self.secrets.get(record.ref)
        if attached:
            (root / "secrets.json").write_text(json.dumps(attached))
            env["KAGGLE_USER_SECRETS_TOKEN"] = "emulated-user-secrets-token"
            env["T2SQL_EMULATED_SECRETS"] = str(root / "secrets.json")
        return env

    def _run(self, record: SessionRecord, folder: Path) -> None:
        ref, version = record.ref, record.version
        settings = self._settings(ref, version)
        record.machine_shape = settings.get("machineShape") or ("NvidiaTeslaP100" if settings.get("enableGpu") else None)
        root = self.root / "sessions" / ref.replace("/", "__") / f"v{version}"
        shutil.rmtree(root, ignore_errors=True)
        for d in ("kaggle/input", "kaggle/working", "site", "home"):
            (root / d).mkdir(parents=True)
        (root / "site" / "kaggle_secrets.py").write_text(SECRETS_STANDIN)
        record.root = root
        self._mount(record, settings, root / "kaggle" / "input")
        python = self.image.python(root / "image")
        env = self._env(record, settings, root)
        # a short TMPDIR, as on Kaggle (/tmp): multiprocessing's forkserver socket must fit AF_UNIX's 108 bytes
        env["HOME"], env["TMPDIR"] = str(root / "home"), tempfile.mkdtemp(prefix="kgl-", dir="/tmp")
        code = next(p for p in folder.iterdir() if p.suffix == ".ipynb")
        limit = min(self.limit_s, settings.get("sessionTimeoutSeconds") or float("inf"))
        if self.queue_seconds:
            self.emu.set_kernel_status(ref, "queued", version)
            time.sleep(self.queue_seconds)
        self.emu.set_kernel_status(ref, "running", version)
        record.status, record.started = "running", time.time()
        charged, charging = [0.0], threading.Lock()  # hours of this session already charged to the quota

        def charge() -> None:
            with charging:
                hours = (time.time() - record.started) * self.time_scale / 3600
                self.emu.gpu_quota_used_hours += hours - charged[0]
                charged[0] = hours

        ticker = threading.Event()
        if settings.get("enableGpu") and self.live_quota:
            def tick():
                while not ticker.wait(0.2):
                    charge()
            threading.Thread(target=tick, daemon=True).start()
        log = root / "log.txt"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [str(python), "-m", "papermill", str(code), str(root / "executed.ipynb"), "--cwd",
                 str(root / "kaggle" / "working"), "--kernel", "python3", "--log-output", "--no-progress-bar"],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=str(root))
            try:
                proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                record.killed = True
            finally:
                _kill_session(proc, marker=str(root))  # at the limit, and at the end: the container goes
                ticker.set()
        record.ended = time.time()
        record.log = log.read_text(errors="replace")
        if settings.get("enableGpu"):
            charge()  # the rest of the session (all of it without live_quota), once
        _chmod_tree(root / "kaggle" / "input", writable=True)
        if record.killed:
            record.status = "error"
            record.failure_message = f"Your notebook tried to run longer than {self.session_hours:g} hours (session timeout)"
        elif proc.returncode != 0:
            record.status = "error"
            record.failure_message = _last_error(record.log) or f"papermill exited {proc.returncode}"
        else:
            record.status = "complete"
            output = self.emu.kernel_runs(ref)[version - 1].output_dir
            shutil.copytree(root / "kaggle" / "working", output, dirs_exist_ok=True)
        shutil.rmtree(env["TMPDIR"], ignore_errors=True)
        self.emu.set_kernel_log(ref, record.log, version)
        self.emu.set_kernel_status(ref, record.status, version, failure_message=record.failure_message)


SESSION_MARKER = "T2SQL_EMULATED_SESSION"


def _kill_session(proc: subprocess.Popen, marker: str) -> None:
    """SIGKILL everything the session started: papermill's process group, and every process whose
    environment carries the session's marker (the kernel and its children run in sessions of their
    own, and orphans leave the process tree). Repeated until none is left."""
    import psutil

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    for _ in range(50):
        alive = []
        for p in psutil.process_iter():
            try:
                if p.pid != os.getpid() and p.environ().get(SESSION_MARKER) == marker:
                    p.kill()
                    alive.append(p)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        if not alive:
            return
        psutil.wait_procs(alive, timeout=5)
    raise RuntimeError(f"processes of the emulated session {marker} outlive it")


def _last_error(log: str) -> Optional[str]:
    lines = [line for line in log.splitlines() if "Error" in line or "Exception" in line]
    return lines[-1].strip()[:500] if lines else None


def _chmod_tree(root: Path, writable: bool) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            path.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
