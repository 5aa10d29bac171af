"""invoicebridge core: the model, status machine, mapping, plugin contract, pipeline and store.

A plugin author needs only: ``from invoicebridge.core import hookimpl`` and the model classes.
"""

from .errors import (
    AuthError,
    BackendError,
    DailyLimitReached,
    IllegalTransition,
    InvoiceBridgeError,
    MappingError,
    NotConnected,
    NotFound,
    PermissionDenied,
    RateLimited,
    RemoteNotFound,
    RemoteValidationError,
    ServerError,
    TransportError,
    WebhookRejected,
)
from .model import (
    AccountChoice,
    Account,
    Address,
    BackendInfo,
    BrandingTheme,
    Capabilities,
    Catalog,
    CatalogItem,
    Connection,
    ConnectResult,
    CreateRequest,
    CreateResult,
    CrmField,
    Customer,
    Deal,
    DealDiscount,
    DealProduct,
    DealQuery,
    DealSummary,
    DiscountType,
    Health,
    Invoice,
    InvoiceDraft,
    InvoiceRecord,
    LineItem,
    Organization,
    Person,
    RemoteUser,
    Role,
    TaxHandling,
    TaxRate,
    WebhookEvent,
    WebhookRequest,
)
from .plugins import hookimpl
from .backends import AccountingBackend, BackendContext, BackendFactory, ConnectionBound, CrmSource
from .status import Command, InvoiceStatus

__all__ = [
    "AccountChoice", "AccountingBackend", "BackendContext", "BackendFactory", "Capabilities", "ConnectionBound",
    "CrmSource",
    "Account", "Address", "AuthError", "BackendError", "BackendInfo", "BrandingTheme", "Catalog", "CatalogItem",
    "Command", "Connection", "ConnectResult", "CreateRequest", "CreateResult", "CrmField", "Customer",
    "DailyLimitReached", "Deal", "DealDiscount", "DealProduct", "DealQuery", "DealSummary", "DiscountType", "Health",
    "IllegalTransition", "Invoice", "InvoiceBridgeError", "InvoiceDraft", "InvoiceRecord", "InvoiceStatus",
    "LineItem", "MappingError", "NotConnected", "NotFound", "Organization", "Person", "PermissionDenied",
    "RateLimited", "RemoteNotFound", "RemoteUser", "RemoteValidationError", "Role", "ServerError",
    "TaxHandling", "TaxRate", "TransportError", "WebhookEvent", "WebhookRejected", "WebhookRequest", "hookimpl",
]
