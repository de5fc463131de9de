"""``interop acls apply``: make the broker's ACLs on the bus's topics and groups match the
members file and the catalogue (one Kafka identity per member, nothing else allowed).

Like ``interop topics apply``: idempotent, ``--dry-run`` prints the plan and changes
nothing, Kafka settings from ``--settings FILE`` / ``INTEROP__KAFKA__...`` (an identity
allowed to manage ACLs: a super user or one with ALTER on the cluster). Exit codes: 0
applied or nothing to do, 1 refused or failed.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any, Final

from bus import ACL_MANAGED_PREFIX, AclPlan, apply_acls, derive_acl_bindings, parse_gateway_group_id
from contracts.catalogue import DEFAULT_CATALOGUE_DIR, load_catalogue
from gateway.members import Role, load_members_file
from interop.topics_cmd import add_apply_arguments, load_kafka_settings

__all__ = ["DEFAULT_GATEWAY_USER", "register"]

DEFAULT_GATEWAY_USER: Final = "interop-gateway"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``acls`` command group."""
    acls = subparsers.add_parser("acls", help="Kafka ACLs: one identity per member")
    commands = acls.add_subparsers(dest="acls_command", metavar="ACTION", required=True)
    apply = commands.add_parser(
        "apply",
        help="make the broker's ACLs on interop.* topics and groups match the members file "
        "and the catalogue (idempotent)",
    )
    apply.add_argument(
        "--members", type=Path, required=True, help="the gateway's members file (providers)"
    )
    apply.add_argument(
        "--catalogue",
        type=Path,
        default=DEFAULT_CATALOGUE_DIR,
        help="contracts catalogue (default: the bundled one)",
    )
    apply.add_argument(
        "--gateway-user",
        default=DEFAULT_GATEWAY_USER,
        help=f"the gateway's Kafka user (default {DEFAULT_GATEWAY_USER})",
    )
    apply.add_argument(
        "--gateway-group",
        action="append",
        default=None,
        help="a gateway group whose reply topic to grant (repeatable; default: dev)",
    )
    add_apply_arguments(apply)
    apply.set_defaults(handler=_apply)


def _apply(args: argparse.Namespace) -> int:
    kafka = load_kafka_settings(args.settings, bootstrap=args.bootstrap)
    members = load_members_file(args.members)
    catalogue = load_catalogue(args.catalogue)
    providers = {str(m.id) for m in members.members if Role.PROVIDER in m.roles}
    named = {str(p) for service in catalogue.services.values() for p in service.meta.providers}
    groups = [parse_gateway_group_id(g) for g in (args.gateway_group or ["dev"])]
    desired = derive_acl_bindings(
        catalogue, gateway_identity=args.gateway_user, gateway_groups=groups, providers=providers
    )
    plan = asyncio.run(apply_acls(kafka, desired, dry_run=args.dry_run))
    for missing in sorted(named - providers):
        print(f"note: {missing} provides a service but is no provider in {args.members}: no ACLs")
    _print_plan(plan, total=len(desired), dry_run=args.dry_run, bootstrap=kafka.bootstrap_servers)
    return 0


def _print_plan(plan: AclPlan, *, total: int, dry_run: bool, bootstrap: str) -> None:
    if not plan.changed:
        print(f"no changes: the {total} ACLs on {ACL_MANAGED_PREFIX}* at {bootstrap} match")
        return
    verb = "would change" if dry_run else "changed"
    print(f"ACLs on {ACL_MANAGED_PREFIX}* at {bootstrap} ({verb}):")
    for binding in plan.add:
        print(f"  + {binding.describe()}")
    for binding in plan.remove:
        print(f"  - {binding.describe()}")
    summary = f"{len(plan.add)} added, {len(plan.remove)} removed, {total} in all"
    print(f"dry run, nothing changed: {summary}" if dry_run else summary)
