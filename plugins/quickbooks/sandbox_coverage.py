"""Every operation of the resources the QBO sandbox emulates, served or not, with the reason.

Intuit publishes XSDs (the entities' shapes), not a list of operations: the operations are the fact sheet's
URL forms (§2.1: create, update, read, query, delete, void, pdf, send, batch, cdc) applied to each entity as its
section of the fact sheet describes it (§3). ``OPERATIONS`` lists them; ``NOT_EMULATED`` names those the sandbox
does not perform, which answer HTTP 501 with a Fault envelope (a SystemFault, code ``501``, the reason as the
Detail: the real service would perform them). Operations QBO itself refuses (deleting a name-list entity,
creating a tax code outside TaxService) are answered with QBO's own fault. plugins/quickbooks/SANDBOX.md is the
readable form; tests/quickbooks/test_qbo_coverage.py checks both against the sandbox.
"""

from __future__ import annotations

from typing import NamedTuple


class Operation(NamedTuple):
    resource: str
    operation: str
    method: str
    path: str  # under /v3/company/{realmId}
    query: str = ""  # e.g. "operation=delete"


def _crud(resource: str, *, delete: bool = False, void: bool = False) -> list[Operation]:
    low = resource.lower()
    ops = [Operation(resource, "create", "POST", f"/{low}"), Operation(resource, "read", "GET", f"/{low}/{{id}}"),
           Operation(resource, "update", "POST", f"/{low}"),
           Operation(resource, "query", "POST", "/query")]
    ops.append(Operation(resource, "delete", "POST", f"/{low}", "operation=delete"))
    if void:
        ops.append(Operation(resource, "void", "POST", f"/{low}", "operation=void" if resource == "Invoice"
                             else "operation=update&include=void"))
    return ops


OPERATIONS: tuple[Operation, ...] = (
    *_crud("Invoice", void=True),
    Operation("Invoice", "pdf", "GET", "/invoice/{id}/pdf"),
    Operation("Invoice", "send", "POST", "/invoice/{id}/send"),
    *_crud("Customer"), *_crud("Item"), *_crud("Account"), *_crud("Term"),
    *_crud("Payment", void=True),
    Operation("Payment", "pdf", "GET", "/payment/{id}/pdf"),
    Operation("Payment", "send", "POST", "/payment/{id}/send"),
    Operation("TaxCode", "read", "GET", "/taxcode/{id}"),
    Operation("TaxCode", "query", "POST", "/query"),
    Operation("TaxCode", "create", "POST", "/taxcode"),
    Operation("TaxCode", "create through TaxService", "POST", "/taxservice/taxcode"),
    Operation("CompanyInfo", "read", "GET", "/companyinfo/{realmId}"),
    Operation("CompanyInfo", "query", "POST", "/query"),
    Operation("CompanyInfo", "update", "POST", "/companyinfo"),
    Operation("Preferences", "read", "GET", "/preferences"),
    Operation("Preferences", "query", "POST", "/query"),
    Operation("Preferences", "update", "POST", "/preferences"),
    Operation("(any)", "batch", "POST", "/batch"),
    Operation("(any)", "cdc", "GET", "/cdc"),
)

# (resource, operation) -> why the sandbox does not perform it (answered 501 with a SystemFault)
NOT_EMULATED: dict[tuple[str, str], str] = {
    ("Payment", "update"): "the plugin records no payments; payments come from the console (void is served)",
    ("Payment", "pdf"): "the plugin downloads invoice PDFs only",
    ("Payment", "send"): "the plugin emails invoices only",
    ("TaxCode", "create through TaxService"): "the plugin reads tax codes; the seed creates them",
    ("CompanyInfo", "update"): "the plugin reads the company; the console does not change it",
    ("Preferences", "update"): "the plugin reads the preferences; the sandbox's are set by its seed",
}

# (resource, operation) -> QBO's own refusal, which the sandbox answers (a ValidationFault, HTTP 400)
REFUSED_AS_QBO_DOES: dict[tuple[str, str], str] = {
    ("Customer", "delete"): "name-list entities are made inactive (Active false), not deleted (6000)",
    ("Item", "delete"): "made inactive, not deleted (6000)",
    ("Account", "delete"): "made inactive, not deleted (6000)",
    ("Term", "delete"): "made inactive, not deleted (6000)",
    ("TaxCode", "create"): "tax codes are created through TaxService (2010)",
}

NOT_EMULATED_ROUTES: tuple[tuple[str, str, tuple[str, str]], ...] = (  # routes of their own: method, path, key
    ("GET", "/payment/{entity_id}/pdf", ("Payment", "pdf")), ("POST", "/payment/{entity_id}/send", ("Payment", "send")),
    ("POST", "/taxservice/taxcode", ("TaxCode", "create through TaxService")),
    ("POST", "/companyinfo", ("CompanyInfo", "update")), ("POST", "/preferences", ("Preferences", "update")),
)
