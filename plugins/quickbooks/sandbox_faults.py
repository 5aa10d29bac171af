"""The QBO Fault envelope and the error codes the sandbox answers with (fact sheet §6).

``{"Fault": {"Error": [{"Message", "Detail", "code", "element"}], "type": "ValidationFault"}, "time": …}``.
The 401 has its own lower-case shape with an epoch-millisecond ``time``; the throttle fault (3001) is XML even
when JSON was asked for (§6.2). Texts are the first- or second-party ones where the fact sheet has them; the
others are marked UNCERTAIN there and here.
"""

from __future__ import annotations

from typing import Any


class QboFault(Exception):
    """One error answered as a Fault. ``status`` is the HTTP status of a single (non-batch) request."""

    def __init__(self, code: str, message: str, detail: str = "", *, element: str = "", status: int = 400,
                 type: str = "ValidationFault") -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code, self.message, self.detail, self.element = str(code), message, detail or message, element
        self.status, self.type = status, type

    def body(self) -> dict[str, Any]:
        error = {"Message": self.message, "Detail": self.detail, "code": self.code}
        if self.element:
            error["element"] = self.element
        return {"Error": [error], "type": self.type}


def required(element: str) -> QboFault:
    return QboFault("2020", "Required param missing, need to supply the required value for the API",
                    f"Required parameter {element} is missing in the request", element=element)


def invalid_reference(element: str) -> QboFault:
    return QboFault("2500", "Invalid Reference Id", f"Invalid Reference Id : {element}", element=element)


def inactive(element: str) -> QboFault:
    return QboFault("610", "Object Not Found",
                    "Object Not Found : Something you're trying to use has been made inactive. "
                    "Check the fields with accounts, customers, items, vendors or employees.", element=element)


def not_found(entity: str, entity_id: str) -> QboFault:
    return QboFault("610", "Object Not Found", f"Object Not Found : {entity} {entity_id} does not exist", status=400)


def stale(entity: str) -> QboFault:
    return QboFault("5010", "Stale Object Error",
                    "Stale Object Error : You and API API were working on this at the same time. "
                    "API API finished before you did, so your work was not saved.", element=entity)


def duplicate_name() -> QboFault:
    return QboFault("6240", "Duplicate Name Exists Error",
                    "The name supplied already exists. : Another customer, vendor or employee is already using this "
                    "name. Please use a different name.", element="")


def business(detail: str, *, element: str = "") -> QboFault:
    return QboFault("6000", "A business validation error has occurred while processing your request",
                    f"Business Validation Error: {detail}", element=element)


def not_emulated(operation: str, reason: str) -> QboFault:
    """The sandbox's own answer for an operation QBO performs but the sandbox does not (sandbox_coverage.py)."""
    return QboFault("501", "Not emulated by the sandbox", f"{operation} is not emulated: {reason}".rstrip(": "),
                    status=501, type="SystemFault")


def unsupported(detail: str) -> QboFault:
    return QboFault("2010", "Request has invalid or unsupported property", detail)


def query_error(detail: str) -> QboFault:
    # QueryParserError: the code is not in the fact sheet (UNCERTAIN); 4000 is what third-party code matches
    return QboFault("4000", "Error parsing query", f"QueryParserError: {detail}")


def authentication_body(detail: str, epoch_ms: int) -> dict[str, Any]:
    """The 401 body: lower-case keys and an epoch-millisecond time (fact sheet §6.1)."""
    return {"warnings": None, "intuitObject": None,
            "fault": {"error": [{"message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                                 "detail": detail, "code": "3200", "element": None}], "type": "AUTHENTICATION"},
            "report": None, "queryResponse": None, "batchItemResponse": [], "attachableResponse": [],
            "syncErrorResponse": None, "requestId": None, "time": epoch_ms, "status": None, "cdcresponse": []}


def throttle_xml(stamp: str) -> str:
    """The 429 answer: XML whatever the Accept header said (fact sheet §6.2, code 3001)."""
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{stamp}">'
            '<Fault type="SERVICE"><Error code="3001" element="">'
            "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
            "<Detail>The request limit was reached.  Try again later</Detail>"
            "</Error></Fault></IntuitResponse>")
