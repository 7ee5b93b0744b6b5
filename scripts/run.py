"""`make run`: the local console with a django-q2 worker beside it.

Migrates the embedded database, makes sure the schedules exist, creates an admin login
once (kept in var/admin-login.json so every run prints the same), seeds demo data into an
empty database (NO_DEMO=1 skips it), then serves the console and runs a qcluster.

Ctrl+C stops both and leaves nothing behind. The cluster runs in its own session and is
stopped by signalling its main process only: a SIGINT/SIGTERM delivered to its whole
process group can hang its shutdown (django-q2 issue #346).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "timedify_ops.settings")

HOST = os.environ.get("HOST", "127.0.0.1")
PORT = os.environ.get("PORT", "8000")
STOP_GRACE_SECONDS = 20


def prepare() -> dict[str, str]:
    import django
    from django.conf import settings
    from django.core.management import call_command, get_commands

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("createcachetable", verbosity=0)
    if "setup_schedules" in get_commands():
        call_command("setup_schedules", verbosity=0)
    login = ensure_admin(Path(settings.VAR_DIR) / "admin-login.json")
    from webhooks.models import WebhookEvent

    if os.environ.get("NO_DEMO") != "1" and not WebhookEvent.objects.exists():
        print("Empty database: seeding demo data (NO_DEMO=1 skips this)...", flush=True)
        call_command("seed_demo", verbosity=0)
    return login


def ensure_admin(path: Path) -> dict[str, str]:
    """One superuser per database; its random password is kept beside the database."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    login = json.loads(path.read_text()) if path.exists() else None
    if login is None:
        login = {"username": "admin", "password": secrets.token_urlsafe(12)}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(login))
        path.chmod(0o600)
    user = user_model.objects.filter(username=login["username"]).first()
    if user is None:
        user_model.objects.create_superuser(login["username"], "admin@example.com", login["password"])
    elif not user.check_password(login["password"]):
        user.set_password(login["password"])
        user.save(update_fields=["password"])
    return login


def start(args: list[str]) -> subprocess.Popen[bytes]:
    # Own session: the terminal's Ctrl+C reaches this launcher only, which then stops
    # each child the way that child needs.
    return subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT, start_new_session=True)


def stop(name: str, proc: subprocess.Popen[bytes], *, whole_group: bool) -> None:
    if proc.poll() is not None:
        return
    try:
        if whole_group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop within {STOP_GRACE_SECONDS}s; killing it", flush=True)
    except ProcessLookupError:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything its workers left behind
    except ProcessLookupError:
        pass
    proc.wait()


def main() -> int:
    login = prepare()
    web = start(["runserver", f"{HOST}:{PORT}", "--noreload"])
    cluster = start(["qcluster"])
    print(
        "\n"
        f"  Timedify Ops Console: http://{HOST}:{PORT}/admin/\n"
        f"  Login: {login['username']} / {login['password']}\n"
        f"  Webhooks: POST http://{HOST}:{PORT}/webhooks/shopify/ (secret: SHOPIFY_API_SECRET, see README)\n"
        "  A django-q2 cluster runs beside it. Ctrl+C stops both.\n",
        flush=True,
    )
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = 0
    while not stopping:
        if web.poll() is not None or cluster.poll() is not None:
            dead = "web server" if web.poll() is not None else "worker cluster"
            print(f"The {dead} exited unexpectedly; stopping.", flush=True)
            code = 1
            break
        time.sleep(0.3)
    print("Stopping the worker cluster and the web server...", flush=True)
    stop("worker cluster", cluster, whole_group=False)
    stop("web server", web, whole_group=True)
    print("Stopped.", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
