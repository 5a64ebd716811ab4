"""audit: the audit trail, filtered and paged (the rows themselves are written by the dispatcher)."""

from __future__ import annotations

from core import formatting as fmt
from core.actor import CommandContext
from core.commands.catalog import MAX_AUDIT_ROWS
from core.commands.grammar import Command
from core.commands.verbs import Services
from core.reply import Reply, Table

DEFAULT_AUDIT_ROWS = 20


async def audit(env: Services, cmd: Command, ctx: CommandContext, programs: list[str]) -> Reply:
    x = cmd.extra
    n = min(int(x.get("n", DEFAULT_AUDIT_ROWS)), MAX_AUDIT_ROWS)
    page = int(x.get("page", 1))
    filters = {k: str(x[k]) for k in ("platform", "user", "program", "outcome", "host") if k in x}
    since = env.clock.time() - int(x["since"]) if "since" in x else None
    rows, total = await env.registry.audit_page(n, (page - 1) * n, since=since, **filters)
    table = [[fmt.when(r.at), f"{r.platform}:{r.user_name or r.user_id}", r.channel or "-", r.command, r.outcome,
              r.host or "-"] for r in rows]
    pages = max(1, -(-total // n))
    text = f"Page {page} of {pages} ({total} matching rows)."
    if page < pages:
        nxt = " ".join(w for w in cmd.args if not w.lower().startswith("page="))
        text += f" Next: `audit {nxt + ' ' if nxt else ''}page={page + 1}`"
    return Reply(title="Audit trail", table=Table(["WHEN", "WHO", "CHANNEL", "COMMAND", "OUTCOME", "HOST"], table),
                 text=text if rows else "No audit rows match.",
                 data={"rows": [r.__dict__ for r in rows], "page": page, "pages": pages, "total": total})
