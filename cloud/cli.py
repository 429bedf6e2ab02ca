"""`mimamori-cloud`: migrate, serve, worker, and the admin commands used by tests and the demo.

Each create command prints the new id alone on its last stdout line (scripts read it).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from cloud.core.clock import system_clock
from cloud.core.config import Settings, insecure_secret_reason
from cloud.db import make_engine, make_sessionmaker, transaction
from cloud.services import tenancy

app = typer.Typer(help="Mimamori cloud service.", no_args_is_help=True, add_completion=False)

DbUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="Database URL (default: env MIMAMORI_DATABASE_URL)."),
]


def _settings(database_url: str | None) -> Settings:
    if database_url:
        # Also for child processes (uvicorn workers read settings from the environment).
        os.environ["MIMAMORI_DATABASE_URL"] = database_url
    return Settings()


DevInsecureSecret = Annotated[
    bool,
    typer.Option(
        "--dev-insecure-secret",
        help="Development only: start without a real MIMAMORI_SECRET_KEY (or MIMAMORI_DEV=1).",
    ),
]


def _require_secret(settings: Settings, dev_flag: bool) -> None:
    """Links and CSRF tokens signed with a public key can be forged: refuse to run."""
    reason = insecure_secret_reason(settings)
    if reason is None:
        return
    if dev_flag or settings.dev:
        typer.echo(f"warning: {reason}; development mode, links are forgeable", err=True)
        return
    typer.echo(
        f"error: {reason}.\n"
        "MIMAMORI_SECRET_KEY を長いランダムな値に設定してください"
        " (例: python -c 'import secrets; print(secrets.token_urlsafe(48))')。\n"
        "Set MIMAMORI_SECRET_KEY to a long random value, the same in every process; "
        "for development only pass --dev-insecure-secret or MIMAMORI_DEV=1.",
        err=True,
    )
    raise typer.Exit(3)


def _version_callback(value: bool) -> None:
    if value:
        from cloud.app import _version

        typer.echo(f"mimamori-cloud {_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True)
    ] = False,
) -> None:
    """Mimamori cloud: gateway API, escalation worker, family e-mail."""


def _run(database_url: str | None, action):  # type: ignore[no-untyped-def]
    settings = _settings(database_url)
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            return action(session, settings)
    except (tenancy.NotFound, tenancy.Invalid) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()


@app.command()
def migrate(database_url: DbUrl = None) -> None:
    """Bring the database schema up to date (alembic upgrade head)."""
    from cloud.migrations import upgrade_head

    upgrade_head(_settings(database_url).database_url)
    typer.echo("database is up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(min=1)] = 1,
    with_worker: Annotated[
        bool,
        typer.Option("--with-worker", help="Also run the escalation worker in this process."),
    ] = False,
    database_url: DbUrl = None,
    dev_insecure_secret: DevInsecureSecret = False,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            envvar="FORWARDED_ALLOW_IPS",
            help="Comma-separated addresses of the reverse proxy whose X-Forwarded-For is "
            "trusted as the client address (login throttling, audit log). Default 127.0.0.1.",
        ),
    ] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Also log every request (JSON lines).")
    ] = False,
) -> None:
    """Run migrations, then the HTTP API under uvicorn (logs: JSON lines on stderr)."""
    import shutil
    import tempfile
    import threading

    import uvicorn

    from cloud.core.logging import configure, uvicorn_log_config
    from cloud.migrations import upgrade_head

    settings = _settings(database_url)
    _require_secret(settings, dev_insecure_secret)  # refuse before touching anything
    configure()  # migrations and the embedded worker log like the API and the worker do
    upgrade_head(settings.database_url)
    metrics_dir = None
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Counters live in each worker process; the multiprocess collector adds them up.
        metrics_dir = tempfile.mkdtemp(prefix="mimamori-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    stop = threading.Event()
    if with_worker:
        # The embedded single-process setup (ARCHITECTURE.md section 8).
        from cloud.worker import Worker

        background = Worker(settings, system_clock)
        threading.Thread(target=background.run_until, args=(stop, 1.0), daemon=True).start()
    try:
        uvicorn.run(
            "cloud.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=uvicorn_log_config(access_log=access_log),
            log_level="info",
            access_log=access_log,
            proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips,
        )
    finally:
        stop.set()
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 1.0,
    database_url: DbUrl = None,
    dev_insecure_secret: DevInsecureSecret = False,
) -> None:
    """Detect missed check-ins, advance escalations, send mail."""
    from cloud.worker import run_forever, run_once

    settings = _settings(database_url)
    _require_secret(settings, dev_insecure_secret)
    if once:
        summary = run_once(settings, system_clock)
        typer.echo(summary.describe())
    else:
        run_forever(settings, system_clock, interval)


@app.command("create-municipality")
def create_municipality(
    name: Annotated[str, typer.Option("--name")],
    timezone: Annotated[str, typer.Option("--timezone")] = "Asia/Tokyo",
    email: Annotated[str | None, typer.Option("--email")] = None,
    database_url: DbUrl = None,
) -> None:
    row_id = _run(
        database_url, lambda s, _: tenancy.create_municipality(s, name, timezone, email).id
    )
    typer.echo(row_id)


@app.command("create-office")
def create_office(
    municipality: Annotated[str, typer.Option("--municipality")],
    name: Annotated[str, typer.Option("--name")],
    phone: Annotated[str | None, typer.Option("--phone")] = None,
    email: Annotated[str | None, typer.Option("--email")] = None,
    manager_email: Annotated[str | None, typer.Option("--manager-email")] = None,
    database_url: DbUrl = None,
) -> None:
    row_id = _run(
        database_url,
        lambda s, _: tenancy.create_office(s, municipality, name, phone, email, manager_email).id,
    )
    typer.echo(row_id)


@app.command("create-household")
def create_household(
    office: Annotated[str, typer.Option("--office")],
    name: Annotated[str, typer.Option("--name", help="Resident's name")],
    kana: Annotated[str | None, typer.Option("--kana")] = None,
    slot: Annotated[
        list[str] | None, typer.Option("--slot", help="HH:MM, 1 to 3 times (default 08:00)")
    ] = None,
    timezone: Annotated[str | None, typer.Option("--timezone")] = None,
    language: Annotated[str, typer.Option("--language")] = "ja",
    address: Annotated[str | None, typer.Option("--address")] = None,
    birth_year: Annotated[int | None, typer.Option("--birth-year")] = None,
    database_url: DbUrl = None,
) -> None:
    slots = [tenancy.SlotInput(time=t) for t in (slot or ["08:00"])]

    def action(session, _settings):  # type: ignore[no-untyped-def]
        household = tenancy.create_household(
            session,
            office,
            name,
            system_clock(),
            kana=kana,
            birth_year=birth_year,
            slots=slots,
            timezone=timezone,
            language=language,
            address=address,
        )
        return household.id

    typer.echo(_run(database_url, action))


@app.command("add-contact")
def add_contact(
    household: Annotated[str, typer.Option("--household")],
    name: Annotated[str, typer.Option("--name")],
    email: Annotated[str | None, typer.Option("--email", help="Needed for mail.")] = None,
    relationship: Annotated[str | None, typer.Option("--relationship")] = None,
    phone: Annotated[
        list[str] | None, typer.Option("--phone", help="Japanese number; up to 3 times.")
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            help="family, emergency, key_holder, doctor, care_manager, welfare_volunteer "
            "(repeatable; default family).",
        ),
    ] = None,
    priority: Annotated[
        int | None, typer.Option("--priority", help="Calling order (default: last).")
    ] = None,
    alerts: Annotated[
        bool | None,
        typer.Option("--alerts/--no-alerts", help="Alert mails (default: yes with --email)."),
    ] = None,
    daily_report: Annotated[bool, typer.Option("--daily-report")] = False,
    database_url: DbUrl = None,
) -> None:
    """Add a person to call or mail about a household; prints the contact id."""
    from cloud.services import contacts

    data = contacts.ContactInput(
        name=name,
        email=email,
        relationship=relationship,
        phones=list(phone or []),
        roles=list(role) if role else None,
        priority=priority,
        notify_alerts=alerts if alerts is not None else bool(email),
        daily_report=daily_report,
    )
    row_id = _run(database_url, lambda s, _: contacts.add_contact(s, household, data).id)
    typer.echo(row_id)


@app.command("issue-code")
def issue_code(
    household: Annotated[str, typer.Option("--household")],
    database_url: DbUrl = None,
) -> None:
    """Issue a one-time enrollment code for a household's gateway (valid 7 days)."""
    from datetime import timedelta

    def action(session, settings):  # type: ignore[no-untyped-def]
        ttl = timedelta(seconds=settings.enrollment_code_ttl_s)
        return tenancy.issue_enrollment_code(session, household, system_clock(), ttl)[1]

    typer.echo(_run(database_url, action))


@app.command("line-link-code")
def line_link_code(
    contact: Annotated[str, typer.Option("--contact")],
    database_url: DbUrl = None,
) -> None:
    """Issue a one-time code a family member sends to the office's LINE account (7 days)."""
    from cloud.models import FamilyContact
    from cloud.notify import linking

    def action(session, settings):  # type: ignore[no-untyped-def]
        row = session.get(FamilyContact, contact)
        if row is None:
            raise tenancy.NotFound(f"no contact {contact}")
        return linking.issue_code(session, row, system_clock())

    typer.echo(_run(database_url, action))


@app.command("contact-channels")
def contact_channels(
    contact: Annotated[str, typer.Option("--contact")],
    channel_pref: Annotated[
        str | None,
        typer.Option("--channel-pref", help="Alerts: line_first (default), both or email."),
    ] = None,
    daily_report_line: Annotated[
        bool | None,
        typer.Option(
            "--daily-report-line/--no-daily-report-line",
            help="The daily report on LINE while LINE is linked (opt-in; switches it on).",
        ),
    ] = None,
    database_url: DbUrl = None,
) -> None:
    """How a contact is told: alerts' channel preference and the daily report on LINE."""
    from cloud.models import FamilyContact
    from cloud.services import contacts

    def action(session, settings):  # type: ignore[no-untyped-def]
        row = session.get(FamilyContact, contact)
        if row is None:
            raise tenancy.NotFound(f"no contact {contact}")
        contacts.set_channels(row, channel_pref=channel_pref, daily_report_line=daily_report_line)
        return f"channel_pref={row.channel_pref} daily_report_line={row.daily_report_line}"

    typer.echo(_run(database_url, action))


@app.command("set-household")
def set_household(
    household: Annotated[str, typer.Option("--household")],
    tts_speed: Annotated[
        float | None, typer.Option("--tts-speed", help="Speaking speed 0.5-1.5 (1.0 normal).")
    ] = None,
    tts_volume: Annotated[
        float | None, typer.Option("--tts-volume", help="Volume 0.1-2.0 (1.0 normal).")
    ] = None,
    share_transcripts: Annotated[
        bool | None,
        typer.Option(
            "--share-transcripts/--no-share-transcripts",
            help="Send what the resident said to the cloud (opt-in).",
        ),
    ] = None,
    quiet_hours: Annotated[
        str | None, typer.Option("--quiet-hours", help="START-END local, e.g. 21:00-06:30.")
    ] = None,
    inactivity_deadline: Annotated[
        str | None,
        typer.Option("--inactivity-deadline", help="Local HH:MM, or none to switch off."),
    ] = None,
    phone: Annotated[
        list[str] | None,
        typer.Option("--phone", help="Resident's number; up to 3 times (replaces them)."),
    ] = None,
    address: Annotated[str | None, typer.Option("--address")] = None,
    birth_date: Annotated[
        str | None, typer.Option("--birth-date", help="YYYY-MM-DD (empty clears it).")
    ] = None,
    visitor_notes: Annotated[
        str | None, typer.Option("--visitor-notes", help="e.g. 耳が遠い、犬がいる")
    ] = None,
    database_url: DbUrl = None,
) -> None:
    """Change a household's resident details and voice and watch settings; prints the new
    config version."""
    from datetime import date

    from cloud.models import Household
    from cloud.services import contacts
    from cloud.services import household_settings as hs

    try:
        born = date.fromisoformat(birth_date) if birth_date else None
    except ValueError:
        raise typer.BadParameter("--birth-date must be YYYY-MM-DD") from None
    details = contacts.DetailsInput(
        phones=list(phone) if phone else None,
        address=address,
        birth_date=born,
        clear_birth_date=birth_date == "",
        visitor_notes=visitor_notes,
    )

    def action(session, _settings):  # type: ignore[no-untyped-def]
        row = tenancy.get_or_404(session, Household, household)
        contacts.set_details(session, row, details)
        start, end = hs.quiet_range(quiet_hours) if quiet_hours is not None else (None, None)
        change = hs.SettingsChange(
            tts_speed=tts_speed,
            tts_volume=tts_volume,
            share_transcripts=share_transcripts,
            quiet_start=start,
            quiet_end=end,
            inactivity_deadline=(
                hs.deadline_or_none(inactivity_deadline)
                if inactivity_deadline is not None
                else None
            ),
        )
        hs.apply(session, row, change, system_clock())
        return row.config_version

    typer.echo(_run(database_url, action))


# Dashboard accounts (create-admin, create-staff) live with the dashboard's auth code.
from cloud.auth.cli import register as register_staff_commands  # noqa: E402

register_staff_commands(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
