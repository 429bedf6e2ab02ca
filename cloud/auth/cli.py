"""`mimamori-cloud create-admin` and `create-staff`: the first accounts, from the shell.

Registered onto the main Typer app by cloud/cli.py. Each prints the new user's id alone on
its last stdout line, like the other create commands.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cloud.auth.settings import get_auth_settings
from cloud.auth.users import UserError, create_user
from cloud.core.config import Settings
from cloud.db import make_engine, make_sessionmaker, transaction

Password = Annotated[
    str, typer.Option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
]


def _create(
    database_url: str | None,
    *,
    email: str,
    password: str,
    name: str,
    role: str,
    office: str | None,
    municipality: str | None,
) -> str:
    settings = Settings(database_url=database_url) if database_url else Settings()
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            user = create_user(
                session,
                email=email,
                password=password,
                name=name,
                role=role,
                office_id=office,
                municipality_id=municipality,
                settings=get_auth_settings(),
            )
            return user.id
    except UserError as exc:
        typer.echo(f"error: {exc.code}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    @app.command("create-admin")
    def create_admin(
        email: Annotated[str, typer.Option("--email")],
        password: Password,
        name: Annotated[str, typer.Option("--name")] = "管理者",
        role: Annotated[
            str, typer.Option("--role", help="system_admin | municipality_admin | office_manager")
        ] = "system_admin",
        office: Annotated[str | None, typer.Option("--office")] = None,
        municipality: Annotated[str | None, typer.Option("--municipality")] = None,
        database_url: Annotated[str | None, typer.Option("--database-url")] = None,
    ) -> None:
        """Create a dashboard administrator (the first account of a new installation)."""
        typer.echo(
            _create(
                database_url,
                email=email,
                password=password,
                name=name,
                role=role,
                office=office,
                municipality=municipality,
            )
        )

    @app.command("create-staff")
    def create_staff(
        email: Annotated[str, typer.Option("--email")],
        password: Password,
        office: Annotated[str, typer.Option("--office")],
        name: Annotated[str, typer.Option("--name")],
        role: Annotated[str, typer.Option("--role", help="staff | office_manager")] = "staff",
        database_url: Annotated[str | None, typer.Option("--database-url")] = None,
    ) -> None:
        """Create a post-office staff account."""
        typer.echo(
            _create(
                database_url,
                email=email,
                password=password,
                name=name,
                role=role,
                office=office,
                municipality=None,
            )
        )
