"""CRM calls and Pipedrive's daily token budget: per deal page view (cold and warm) and per bulk invoice.

Real plugins against both sandboxes on simulated time (tests/helpers/bulk_stack.py); Pipedrive calls are
counted where its sandbox receives them, and tokens as it charges them (each operation's ``x-token-cost`` from
the specs). Reads (deals, organisations, persons, products, fields) are told apart from write-backs (a draft gets
a note; an invoice awaiting payment a note and a reminder activity). Half the deals are invoiced as drafts, half
awaiting payment; the page's Save as draft is measured on the pipeline (the form's preview, then the create). The budget is Pipedrive's
30,000 tokens a day per seat on the Lite plan (fact sheet §7.1; x2 Growth, x5 Premium, x7 Ultimate).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import tempfile

import attrs
from _common import report

from bulk_stack import build_stack
from invoicebridge.core.status import InvoiceStatus

WRITE_BACK = ("/api/v1/notes", "/api/v1/activities", "/api/v2/activities")
BUDGET = 30_000


def spent(stack) -> int:
    return stack.pipedrive.rate.spent_today


async def bulk(stack, deal_ids: list[str], status: InvoiceStatus) -> dict:
    stack.pipeline.save_mapping(attrs.evolve(stack.pipeline.mapping(), status=status))
    before, tokens = len(stack.pipedrive.requests), spent(stack)
    items = await stack.pipeline.create_many(deal_ids, run_id=f"crm-calls-{status.value}")
    sent = stack.pipedrive.requests[before:]
    return {"created": sum(1 for i in items if i.record), "sent": sent, "tokens": spent(stack) - tokens,
            "reads": [r for r in sent if not r[1].startswith(WRITE_BACK)],
            "writes": [r for r in sent if r[1].startswith(WRITE_BACK)]}


def without_products(stack, like: str) -> str:
    """A won deal with no products (a fixed price), for the same organisation and person as ``like``."""
    pd, raw = stack.pipedrive, stack.pipedrive.deals[int(like)]
    return str(pd.add_deal("Retainer (no products)", "GBP", value="1234.56", org_id=raw["org_id"],
                           person_id=raw["person_id"], status="won", won_time=pd.now()))


def page_view(stack, deal_id: str):
    """What the deal page reads: the deal, its lines only when kept already (their section opens on demand)."""
    return stack.pipeline.deal_for_display(deal_id, lines=False)


async def cold_view(stack, deal_id: str, *, opened: bool = False) -> tuple[int, int, list[str]]:
    """A page view after a webhook dropped the deal's snapshot (the customer's records kept): calls, tokens, what.
    ``opened``: then the page's products section is opened (the lines read)."""
    await stack.pipeline.deal_for_display(deal_id)
    stack.pipeline.forget_deal(deal_id)
    calls, tokens = stack.pipedrive_calls(), spent(stack)
    await page_view(stack, deal_id)
    if opened:
        await stack.pipeline.deal_for_display(deal_id)
    return (stack.pipedrive_calls() - calls, spent(stack) - tokens,
            [f"{op} {p}" for _, p, op in stack.pipedrive.requests[calls:]])


async def main(deals: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        stack = await build_stack(tmp, deals=deals + 1)
        deal, drafts, approved = stack.deal_ids[0], stack.deal_ids[1:deals // 2 + 1], stack.deal_ids[deals // 2 + 1:]
        bare = without_products(stack, deal)
        view = {}
        for label in ("first view (the CRM's fields read too)", "cold view (snapshot dropped by a webhook)", "warm view"):
            if label != "warm view":
                stack.pipeline.forget_deal(deal)
            calls, tokens = stack.pipedrive_calls(), spent(stack)
            await page_view(stack, deal)
            view[label] = (stack.pipedrive_calls() - calls, spent(stack) - tokens)
        stack.pipeline.forget_deal(deal)
        calls, tokens = stack.pipedrive_calls(), spent(stack)
        await asyncio.gather(*(page_view(stack, deal) for _ in range(50)))
        view["50 views at once, cold"] = (stack.pipedrive_calls() - calls, spent(stack) - tokens)
        cold_reads = {"with products": await cold_view(stack, deal), "without products": await cold_view(stack, bare),
                      "with products, its products section then opened": await cold_view(stack, deal, opened=True)}

        # the page's Save as draft: the preview the form just made (on the page's snapshot), then the create
        overrides = {"status": "DRAFT"}
        shown = await stack.pipeline.preview(deal, overrides, deal=await stack.pipeline.deal_for_display(deal))
        calls, tokens = stack.pipedrive_calls(), spent(stack)
        await stack.pipeline.create_invoice(deal, overrides=overrides, key="save-draft", source="page", shown=shown)
        save = (stack.pipedrive_calls() - calls, spent(stack) - tokens,
                [f"{m} {p}" for m, p, _ in stack.pipedrive.requests[calls:]])

        runs = {"drafts": await bulk(stack, drafts, InvoiceStatus.DRAFT),
                "awaiting payment": await bulk(stack, approved, InvoiceStatus.AWAITING_PAYMENT)}
    rows = [(f"deal page, {k}", f"{c} calls, {t} tokens") for k, (c, t) in view.items()]
    rows += [(f"deal page, cold view, a deal {k}", f"{c} call{'s' if c != 1 else ''}, {t} tokens: {', '.join(what)}")
             for k, (c, t, what) in cold_reads.items()]
    rows.append(("Save as draft (form preview on the page's snapshot, then the create)",
                 f"{save[0]} calls, {save[1]} tokens: {', '.join(save[2])}"))
    met_reads = True
    for label, r in runs.items():
        created, per_invoice = r["created"], r["tokens"] / r["created"]
        met_reads = met_reads and len(r["reads"]) / created <= 0.1
        kinds = collections.Counter(f"{m} {p}" for m, p, _ in r["sent"]).most_common()
        rows += [
            (f"bulk {label}: invoices created", f"{created} (won deals, one new organisation each)"),
            (f"bulk {label}: reads", f"{len(r['reads'])} calls = {len(r['reads']) / created:.3f} per invoice (target <= 0.1)"),
            (f"bulk {label}: write-backs", f"{len(r['writes'])} calls = {len(r['writes']) / created:.2f} per invoice"),
            (f"bulk {label}: tokens", f"{r['tokens']} = {per_invoice:.1f} per invoice; a Lite seat's {BUDGET:,} a day "
                                      f"covers {BUDGET / per_invoice:,.0f} invoices"),
            (f"bulk {label}: calls by kind", ", ".join(f"{k}: {n}" for k, n in kinds)),
        ]
    rows.append(("target", "view <= 1 call cold and 0 warm; bulk reads <= 0.1 calls per invoice; Save as draft <= 6: "
                           f"warm {'MET' if view['warm view'][0] == 0 else 'NOT MET'}, "
                           f"cold {'MET' if view['cold view (snapshot dropped by a webhook)'][0] <= 1 else 'NOT MET'} "
                           f"({'met' if cold_reads['with products'][0] <= 1 else 'not met'} with products, "
                           f"{'met' if cold_reads['without products'][0] <= 1 else 'not met'} without), "
                           f"bulk reads {'MET' if met_reads else 'NOT MET'}, "
                           f"Save as draft {'MET' if save[0] <= 6 else 'NOT MET'}"))
    report("CRM calls and Pipedrive tokens", rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.deals))
