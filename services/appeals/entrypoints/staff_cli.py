"""`appeals staff ...`: create and list staff accounts from the command line.

    appeals staff add --username U --role R [--unit CODE] [--name N] [--password-stdin]
    appeals staff list
    appeals staff seed-demo [--reset]

They talk to the database named by the same ``APPEALS_*`` variables the service reads
(``APPEALS_MONGO_URL``, ``APPEALS_MONGO_DB``, ``APPEALS_JURISDICTION_FILE`` ...). ``add``
without ``--password-stdin`` makes up a strong password and prints it once. ``seed-demo``
creates one account per role for the configured city (the demo city by default) so a newcomer
can log in after ``make run``; the password is ``$APPEALS_DEMO_PASSWORD`` when set, else one
made up per account and printed once. Existing accounts are left alone unless ``--reset``.

Standalone: ``python -m services.appeals.entrypoints.staff_cli staff list``. The ``appeals``
console script adds the group through ``register(subparsers)``; every subcommand stores its
handler in ``args.func`` (returns the exit status).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

from services.appeals.adapters.accounts import AccountError, AccountExists, StaffAccounts
from services.appeals.config import AppealsSettings
from services.appeals.domain.access import LOGIN_ROLES
from services.appeals.domain.lifecycle import Role
from shared.city import City, CityDataError, load_city
from shared.mongo import make_client

__all__ = ["demo_accounts", "main", "register"]

DEMO_PASSWORD_ENV = "APPEALS_DEMO_PASSWORD"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``staff`` command group to a parent parser's subparsers."""
    group = subparsers.add_parser("staff", help="staff accounts: add, list, seed-demo")
    commands = group.add_subparsers(dest="staff_command", metavar="COMMAND", required=True)

    p = commands.add_parser("add", help="create a staff account")
    p.add_argument("--username", required=True)
    p.add_argument("--role", required=True, choices=LOGIN_ROLES)
    p.add_argument(
        "--unit",
        help="the post's code: a unit, a dispatch centre, a district, a street (viewer) ...",
    )
    p.add_argument("--name", help="display name (default: the username)")
    p.add_argument("--language", default="zh-CN", choices=["zh-CN", "en"])
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin (else one is made up and printed)",
    )
    p.set_defaults(func=_cmd_add)

    p = commands.add_parser("list", help="list staff accounts")
    p.set_defaults(func=_cmd_list)

    p = commands.add_parser("seed-demo", help="one account per role for the configured city")
    p.add_argument("--reset", action="store_true", help="reset existing demo accounts' passwords")
    p.set_defaults(func=_cmd_seed_demo)


def _run(work: Callable[[StaffAccounts, City], Awaitable[int]]) -> int:
    settings = AppealsSettings()
    try:
        city = load_city(settings.jurisdiction_file, settings.matters_file)
    except CityDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        client = make_client(settings.mongo_url)
        try:
            accounts = StaffAccounts(
                client,
                settings.mongo_db,
                city,
                session_hours=settings.session_hours,
                max_failures=settings.login_max_failures,
                lockout_minutes=settings.login_lockout_minutes,
            )
            await accounts.create_indexes()
            return await work(accounts, city)
        finally:
            await client.close()

    return asyncio.run(run())


def _made_up_password() -> str:
    # 18 random bytes: 24 URL-safe characters, ~144 bits, far past the policy's minimum.
    return secrets.token_urlsafe(18)


def _cmd_add(args: argparse.Namespace, stdin: TextIO | None = None) -> int:
    made_up = not args.password_stdin
    if made_up:
        password = _made_up_password()
    else:
        password = (stdin or sys.stdin).readline().rstrip("\r\n")

    async def work(accounts: StaffAccounts, _city: City) -> int:
        try:
            account = await accounts.add(
                username=args.username,
                role=args.role,
                unit=args.unit,
                password=password,
                name=args.name,
                language=args.language,
            )
        except AccountError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"created {account.username} ({account.role}{_post(account.unit, account.district)})")
        if made_up:
            print(f"password (shown once): {password}")
        return 0

    return _run(work)


def _post(unit: str | None, district: str | None) -> str:
    where = unit or district
    return f" at {where}" if where else ", city-wide"


def _cmd_list(args: argparse.Namespace) -> int:
    async def work(accounts: StaffAccounts, _city: City) -> int:
        rows = await accounts.list_all()
        print(f"{'USERNAME':<24} {'ROLE':<15} {'UNIT':<14} {'STREET':<10} {'DISTRICT':<9} NAME")
        for a in rows:
            state = "" if a.active else "  (disabled)"
            print(
                f"{a.username:<24} {a.role:<15} {a.unit or '-':<14} {a.street or '-':<10} "
                f"{a.district or '-':<9} {a.name}{state}"
            )
        return 0

    return _run(work)


def demo_accounts(city: City) -> list[tuple[str, Role, str | None, str]]:
    """(username, role, unit code, display name) of the demo accounts for ``city``.

    All in the first street of the first district, so the accounts see each other's work.
    """
    district = city.jurisdiction.districts[0]
    street = district.streets[0]
    coordinator = street.coordinator
    worker = next((u for u in street.units if u.dispatched_by), street.units[0])
    return [
        ("demo-operator", "operator", None, "示范接线员 (hotline operator)"),
        ("demo-unit", "unit_staff", worker.code, f"{worker.name} 工作人员"),
        (
            "demo-coordinator",
            "coordinator",
            coordinator.code if coordinator else None,
            f"{street.name} 城运中心",
        ),
        ("demo-dispatcher", "dispatcher", district.dispatch_center, f"{district.name}调度员"),
        ("demo-admin", "district_admin", district.code, f"{district.name}管理员"),
        ("demo-viewer", "viewer", district.code, f"{district.name}领导 (read-only)"),
    ]


def _cmd_seed_demo(args: argparse.Namespace) -> int:
    shared_password = os.environ.get(DEMO_PASSWORD_ENV) or None

    async def work(accounts: StaffAccounts, city: City) -> int:
        status = 0
        for username, role, unit, name in demo_accounts(city):
            password = shared_password or _made_up_password()
            try:
                await accounts.add(
                    username=username, role=role, unit=unit, password=password, name=name
                )
            except AccountExists:
                if not args.reset:
                    print(f"{username:<18} exists, unchanged")
                    continue
                await accounts.set_password(username, password)
            except AccountError as exc:
                print(f"{username:<18} error: {exc}", file=sys.stderr)
                status = 1
                continue
            shown = f"${DEMO_PASSWORD_ENV}" if shared_password else password
            print(f"{username:<18} {role:<15} {unit or '-':<10} password: {shown}")
        return status

    return _run(work)


def main(argv: list[str] | None = None) -> int:
    """Run ``staff ...`` on its own (without the ``appeals`` console script)."""
    parser = argparse.ArgumentParser(prog="appeals")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
