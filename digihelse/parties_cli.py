"""``digihelse parties``: who is in the address register, as AR's JSON API shows it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table


def parties(
    url: Annotated[Optional[str], typer.Option(help="Base URL of a running `digihelse serve`; without it, the parties a fresh serve would register.")] = None,
    db: Annotated[Optional[Path], typer.Option(help="State directory of a stopped serve (--db); reads its registry.sqlite.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the JSON list of GET /ar/api/parties instead of a table.")] = False,
) -> None:
    """List AR's communication parties: HER-id, name, type, parent, municipality, queues, DigiHelse processes."""
    from mocks.exchange.envelope import queue_from_address
    from mocks.registry.http import PartyOut

    if url is not None:
        import httpx

        try:
            response = httpx.get(f"{url.rstrip('/')}/ar/api/parties", timeout=10)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            Console(stderr=True).print(f"error: --url: {exc}")
            raise typer.Exit(2) from None
        rows = response.json()
    else:
        from mocks.harness.population import parties as default_parties
        from mocks.registry.core import Registry
        from mocks.registry.store import RegistryStore

        if db is not None:
            if not (db / "registry.sqlite").is_file():
                Console(stderr=True).print(f"error: --db: no registry.sqlite in {db}")
                raise typer.Exit(2)
            found = Registry(RegistryStore(db / "registry.sqlite")).parties()
        else:
            found = sorted(default_parties(), key=lambda p: p.her_id)
        rows = [PartyOut.of(p).model_dump(mode="json", by_alias=True) for p in found]
    if json_out:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    table = Table(header_style="bold")
    for column in ("HER-id", "name", "type", "parent", "kommune", "queue", "DigiHelse processes"):
        table.add_column(column, overflow="fold")
    for row in rows:
        processes = ", ".join(p.removeprefix("DIALOG_INNBYGGER_") for p in row["processes"]) or "—"
        table.add_row(str(row["herId"]), row["name"], row["type"], str(row["parentHerId"] or ""),
                      row["municipality"] or "", queue_from_address(row["queues"]["async"]), processes)
    Console().print(table)
